"""Parameter and MAC formulas against torch modules and torch's FLOP counter; the lectures' AlexNet
and VGG tables against the networks built from their configurations."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvdemo.architectures import arithmetic
from cvdemo.architectures.catalog import AlexNet2012


def torch_cost(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    """(parameters, MACs, output shape) as torch counts them; FlopCounterMode counts 2 FLOPs per MAC."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module(torch.zeros(1, *shape))
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


@pytest.mark.parametrize("cin,cout,k,stride,groups", [(3, 96, 11, 4, 1), (96, 256, 5, 1, 2), (64, 64, 3, 2, 64), (32, 16, 1, 1, 1)])
def test_conv_cost_matches_torch(cin, cout, k, stride, groups):
    cost = arithmetic.conv_cost("x", cin, cout, k, 57, 43, stride=stride, groups=groups)
    params, macs, shape = torch_cost(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups), (cin, 57, 43))
    assert (cost.params, cost.macs, cost.out_shape) == (params, macs, shape)


def test_the_lectures_1x1_example():
    # "64×1×1 kernel, shared weights over 13×13 output, ×1024 filters = 11 mil params"
    example = arithmetic.convolutionalization_example()
    assert example.shared.params == 64 * 1024 == 65_536  # what a shared 1×1 layer stores
    assert example.shared.macs == 13 * 13 * 64 * 1024 == 11_075_584  # the "11 mil": work, or unshared weights
    assert example.unshared_weights == 11_075_584
    _, macs, _ = torch_cost(nn.Conv2d(64, 1024, 1, bias=False), (64, 13, 13))
    assert macs == example.shared.macs


def test_inception_3a_against_torch_and_the_paper():
    costs = arithmetic.inception_module(192, 28, 28)
    b = arithmetic.InceptionBranches()
    modules = [nn.Conv2d(192, 64, 1), nn.Sequential(nn.Conv2d(192, 96, 1), nn.Conv2d(96, 128, 3, padding=1)),
               nn.Sequential(nn.Conv2d(192, 16, 1), nn.Conv2d(16, 32, 5, padding=2)),
               nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(192, 32, 1))]
    counted = [torch_cost(m, (192, 28, 28)) for m in modules]
    assert sum(c.params for c in costs) == sum(p for p, _, _ in counted)
    assert sum(c.macs for c in costs) == sum(m for _, m, _ in counted)
    assert arithmetic.inception_output_channels(192, b) == sum(shape[0] for _, _, shape in counted) == 256
    # Szegedy et al., Table 1, inception (3a): 159K parameters (K = 1024, weights only), 128M ops
    weights = sum(c.params for c in costs) - (64 + 96 + 128 + 16 + 32 + 32)
    assert int(weights / 1024) == 159 and round(sum(c.macs for c in costs) / 1e6) == 128  # 163,328 = 159.5 K
    naive = arithmetic.inception_module(192, 28, 28, reductions=False)
    assert sum(c.macs for c in naive) == 28 * 28 * (192 * 64 + 9 * 192 * 128 + 25 * 192 * 32)  # 2.4× the module's


def test_depthwise_separable_against_torch():
    costs = arithmetic.depthwise_separable(32, 64, 3, 56, 56, stride=2)
    module = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1, groups=32), nn.Conv2d(32, 64, 1))
    params, macs, shape = torch_cost(module, (32, 56, 56))
    assert (sum(c.params for c in costs), sum(c.macs for c in costs), costs[-1].out_shape) == (params, macs, shape)
    standard = arithmetic.conv_cost("3×3", 32, 64, 3, 56, 56, stride=2)
    assert sum(c.macs for c in costs) / standard.macs == pytest.approx(arithmetic.separable_saving(64, 3))


def test_alexnet_rows_match_the_2012_network_and_find_the_slide_slips():
    network = AlexNet2012().eval()
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.shape[1:].numel()))
             for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        network(torch.zeros(1, 3, 227, 227))
    for hook in hooks:
        hook.remove()
    layers = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rows = arithmetic.alexnet_rows()
    assert [r.units for r in rows] == outputs
    assert [r.weights for r in rows] == [m.weight.numel() for m in layers]
    assert [r.biases for r in rows] == [m.bias.numel() for m in layers]
    # The only disagreement with the slide is L4's units: 13×13×384 = 64,896, printed as 64,869.
    wrong = [r for r in rows if r.units != r.lecture_units or r.weights != r.lecture_weights]
    assert [(r.layer, r.units, r.lecture_units) for r in wrong] == [("L4 (conv)", 64_896, 64_869)]
    totals = arithmetic.ALEXNET_LECTURE_TOTALS
    assert sum(r.units for r in rows) == totals["units"]  # the slide's totals used the right 64,896
    assert sum(r.weights for r in rows) == totals["weights"]
    assert sum(r.weights + r.biases for r in rows) == sum(p.numel() for p in network.parameters())


@pytest.mark.parametrize("config", "ABCDE")
def test_vgg_configurations(config):
    counted = sum(c.params for c in arithmetic.vgg_costs(config))
    assert round(counted / 1e6) == arithmetic.VGG_LECTURE_PARAMS_M[config]
    if config in arithmetic.VGG_TORCHVISION:
        with torch.device("meta"):
            reference = torchvision.models.get_model(arithmetic.VGG_TORCHVISION[config], weights=None)
        assert counted == sum(p.numel() for p in reference.parameters())
    assert len(arithmetic.vgg_costs(config)) == {"A": 11, "B": 13, "C": 16, "D": 16, "E": 19}[config]


def test_quoted_errors():
    resnet = [e for e in arithmetic.LECTURE_ERRORS if e.network.startswith("ResNet")]
    assert resnet[0].top5 == 3.6
    ours = {e.network: e for e in arithmetic.torchvision_errors()}
    assert ours["vgg16"].top1 == pytest.approx(100 - 71.592)
    assert ours["resnet152"].top5 < ours["vgg19"].top5


@pytest.mark.page
def test_arithmetic_view_shows_the_lectures_numbers():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "6_Architectures.py"), default_timeout=300)
    at.run()
    at.radio(key="view").set_value("Arithmetic").run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Weights of the shared 1×1 layer"] == "65,536"
    assert metrics["Multiply-adds per image"] == "11,075,584"
    alexnet = next(f.value for f in at.dataframe if "units (slide)" in f.value.columns)
    flagged = alexnet[alexnet["note"] != ""]
    assert list(flagged["layer"]) == ["L4 (conv)"] and "64,896" in flagged["note"].iloc[0]
    # changing the layer calculator's inputs changes its counts
    at.number_input(key="arch_arith_cin").set_value(64).run()
    layer = at.dataframe[0].value
    assert layer["parameters"][0] == 3 * 3 * 64 * 128 + 128
