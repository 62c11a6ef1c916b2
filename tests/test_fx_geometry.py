"""The shared fx geometry: receptive fields of toy networks worked out by hand, the rule table's
lookup, and what an op without a rule gives (for the explorer and for occlusion)."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from cvdemo import fx_geometry
from cvdemo.architectures.graph import analyse
from cvdemo.explain import graph as explain_graph
from cvdemo.fx_geometry import AxisField, ReceptiveField


def _windows(network: nn.Module, size: tuple[int, int]) -> dict[str, ReceptiveField | None]:
    gm = explain_graph.trace(network)
    ShapeProp(gm).propagate(torch.zeros(1, 3, *size))
    start = next(node for node in gm.graph.nodes if node.op == "placeholder")
    return {node.name: window for node, window in explain_graph.windows_from(gm, start).items()}


def _conv_conv_pool(first_padding: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=1, padding=first_padding), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                         nn.MaxPool2d(2))


@pytest.mark.parametrize(("first_padding", "lo", "hi"), [(0, -1, 5), (1, -2, 4)])
def test_conv3_s1_then_conv3_s2_then_maxpool2_by_hand(first_padding, lo, hi):
    # By hand, per axis, unit 0 sees [lo, hi] and units are `jump` apart:
    #   conv 3×3 s1 p:  lo = −p        hi = 2 − p            jump 1   (size 3)
    #   conv 3×3 s2 p1: lo −= 1·1      hi += (2 − 1)·1       jump 2   (size 5)
    #   maxpool 2 s2:   lo −= 0        hi += (1 − 0)·2       jump 4   (size 7)
    # p = 0: [−1, 5]; p = 1: [−2, 4].
    graph = analyse(_conv_conv_pool(first_padding), (32, 32))
    field = graph["2"].field
    assert field.kind == "local"
    assert field.rows == field.cols == AxisField(lo, hi, 4)
    assert (field.size, field.jump, field.start) == ((7, 7), (4, 4), ((lo + hi) / 2, (lo + hi) / 2))
    assert field.box(2, 1) == (lo + 4, lo + 8, hi + 4, hi + 8)  # (x1, y1, x2, y2) of unit row 2, col 1
    # Occlusion reads the same field: output j reads input rows [4j − pad, 4j − pad + 7).
    window = _windows(_conv_conv_pool(first_padding), (32, 32))["_2"]
    assert window == field
    rows = window.axes()[0]
    assert (rows.jump, rows.pad, rows.size) == (4, -lo, 7)


def test_units_a_patch_reaches():
    # Unit i sees [−2 + 4i, 4 + 4i]: input row 10 lies in units 2 ([6, 12]) and 3 ([10, 16]) only;
    # rows [0, 2) in unit 0 ([−2, 4]) only, row 2 in units 0 and 1 ([2, 8]); the range is clipped
    # to the map's 5 units.
    field = ReceptiveField("local", AxisField(-2, 4, 4), AxisField(-2, 4, 4))
    assert field.affected(10, 11, 5, 0) == (2, 4)
    assert field.affected(0, 2, 5, 1) == (0, 1)
    assert field.affected(0, 3, 5, 1) == (0, 2)
    assert field.affected(15, 40, 5, 0) == (3, 5)


class _Residual(nn.Module):
    """A 3×3 path and a 1×1 path added: the union of [−1, 1] and [0, 0] is [−1, 1]."""

    def __init__(self):
        super().__init__()
        self.wide = nn.Conv2d(3, 3, 3, padding=1)
        self.narrow = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.wide(x) + self.narrow(x)


def test_branches_meet_in_the_union_of_their_fields():
    assert analyse(_Residual(), (16, 16))["add"].field.rows == AxisField(-1, 1, 1)
    assert _windows(_Residual(), (16, 16))["add"] == ReceptiveField("local", AxisField(-1, 1, 1), AxisField(-1, 1, 1))


class _MismatchedStrides(nn.Module):
    def __init__(self):
        super().__init__()
        self.fine = nn.Conv2d(3, 3, 3, padding=1)
        self.coarse = nn.Sequential(nn.Conv2d(3, 3, 2, stride=2), nn.Upsample(scale_factor=2.0))

    def forward(self, x):
        return torch.cat([self.fine(x), self.coarse(x)], 1)


def test_subclasses_take_their_base_classes_rule():
    class SameConv(nn.Conv2d):
        pass

    assert fx_geometry.rule_for(_call_module_node(), nn.BatchNorm2d(3)) is fx_geometry.POSITIONWISE
    assert fx_geometry.rule_for(_call_module_node(), SameConv(3, 3, 3)) is fx_geometry.SLIDING_MODULE
    assert fx_geometry.rule_for(_call_module_node(), nn.Upsample(scale_factor=2.0)) is None


def _call_module_node() -> fx.Node:
    return fx.Graph().call_module("layer", ())


def test_an_op_without_a_rule_stops_being_followed():
    # nn.Upsample has no rule: the explorer says "not tracked" from there on instead of guessing,
    # and occlusion treats it (and everything it feeds) as not local.
    graph = analyse(_MismatchedStrides(), (16, 16))
    assert graph["coarse.0"].field.rows == AxisField(0, 1, 2)
    assert graph["coarse.1"].field.kind == "untracked"
    assert graph["cat"].field.kind == "untracked"
    assert graph["cat"].field.describe() == "not tracked"
    windows = _windows(_MismatchedStrides(), (16, 16))
    assert windows["coarse_0"] is not None and windows["coarse_1"] is None and windows["cat"] is None


def test_a_global_field_stays_global_through_an_op_without_a_rule():
    network = nn.Sequential(nn.Conv2d(3, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Upsample(scale_factor=4.0))
    graph = analyse(network, (16, 16))
    assert graph["1"].field.kind == graph["2"].field.kind == "global"


def test_ceil_mode_pooling_is_described_but_not_cropped():
    # With ceil_mode the last window's existence depends on the input size: the field is the
    # usual one (k 3, s 2: [0, 2], jump 2), but a crop of the input would not give a crop of the output.
    network = nn.Sequential(nn.MaxPool2d(3, 2, ceil_mode=True))
    assert analyse(network, (15, 15))["0"].field.rows == AxisField(0, 2, 2)
    assert _windows(network, (15, 15))["_0"] is None


def test_branches_of_different_strides_cannot_be_described():
    assert AxisField(0, 2, 1).union(AxisField(0, 0, 1)) == AxisField(0, 2, 1)
    with pytest.raises(ValueError, match="different strides"):
        AxisField(0, 2, 1).union(AxisField(0, 1, 2))


def test_untraceable_models_raise_a_graph_error():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(fx_geometry.GraphError, match="cannot trace DataDependent"):
        fx_geometry.trace(DataDependent())
