"""Network geometry on ``torch.fx`` graphs: one tracer, one receptive-field algebra, one rule table.

Two clients read a network through this module:

* the architecture explorer (:mod:`cvdemo.architectures.graph`) describes what every layer's
  units see: a local field, the whole image, or "not tracked";
* fast occlusion (:mod:`cvdemo.explain.graph`, :mod:`cvdemo.explain.occlusion`) needs the layers
  that compute the same values on a crop of their input, and which input pixels each output
  position reads, to re-run pieces of the network on crops.

The algebra (per axis, :class:`AxisField`): unit 0 of a layer sees input pixels ``lo … hi``
(inclusive; may lie in the padding) and neighbouring units are ``jump`` pixels apart. A sliding
window with kernel ``k``, stride ``s``, leading padding ``p`` and dilation ``d`` maps this to::

    lo' = lo − p·jump      hi' = hi + ((k − 1)·d − p)·jump      jump' = jump·s

Branches that meet (residual add, channel concat) see the union of their fields.

Each op's rule is an entry of :data:`MODULE_RULES` (keyed by module class; subclasses inherit
their base's rule), :data:`FUNCTION_RULES` (keyed by function) or :data:`METHOD_RULES` (keyed by
tensor-method name). An op with no entry is not guessed at: a global field stays global, a
local one becomes "untracked", and occlusion treats the op as not local (see :func:`propagate`).
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
import torchvision
from torch import fx, nn

from cvdemo.geometry import pair

# ---------------------------------------------------------------------------------------------
# Tracing


class GraphError(RuntimeError):
    """The model cannot be traced, or a layer's geometry cannot be read; the message says why."""


class _OneInput(nn.Module):
    """``forward(x)`` around a module whose own signature fx cannot trace (``forward(self, *inputs)``)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> Any:
        return self.inner(x)


def _trace_once(network: nn.Module, leaf_types: tuple[type[nn.Module], ...]) -> tuple[fx.GraphModule, dict[fx.Node, str]]:
    from torchvision.models.feature_extraction import NodePathTracer

    tracer = NodePathTracer(leaf_modules=list(leaf_types))
    graph = tracer.trace(network)
    traced = fx.GraphModule(tracer.root, graph, type(network).__name__)
    names = {node: tracer.node_to_qualname.get(node, node.name) for node in traced.graph.nodes}
    return traced, names


def trace(network: nn.Module, leaf_types: tuple[type[nn.Module], ...] = ()) -> tuple[fx.GraphModule, dict[fx.Node, str]]:
    """FX graph of ``network`` and each node's qualified name (``layer1.0.conv1``, ``layer1.0.add``).

    torch's own modules are single calls in the graph; other modules are traced through (so that
    torchvision's Conv2dNormActivation shows its convolution), except instances of ``leaf_types``,
    which stay single calls even when subclassed outside torch (a convolution computing
    TensorFlow's SAME padding in ``forward``, say). A module whose ``forward`` takes ``*inputs``
    is traced through a one-input wrapper. Raises :class:`GraphError` when fx cannot trace it
    (Python control flow on tensor values, for one).
    """
    try:
        return _trace_once(network, leaf_types)
    except Exception as first:  # fx raises many kinds (TraceError, TypeError, NotImplementedError…)
        try:
            return _trace_once(_OneInput(network), leaf_types)
        except Exception:
            raise GraphError(f"cannot trace {type(network).__name__} with torch.fx "
                             f"({first.__class__.__name__}: {first})") from None


# ---------------------------------------------------------------------------------------------
# The algebra


@dataclass(frozen=True)
class AxisField:
    """Receptive field along one axis, for unit 0, in input pixels (inclusive bounds)."""

    lo: int
    hi: int
    jump: int

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    @property
    def start(self) -> float:
        """Centre of unit 0's field (the classic 'start' of the receptive-field arithmetic)."""
        return (self.lo + self.hi) / 2

    @property
    def pad(self) -> int:
        """Zero pixels before the first input pixel that unit 0 reads."""
        return -self.lo

    def through(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> AxisField:
        return AxisField(
            self.lo - padding * self.jump,
            self.hi + ((kernel - 1) * dilation - padding) * self.jump,
            self.jump * stride,
        )

    def union(self, other: AxisField) -> AxisField:
        # Branches that meet have outputs of the same size, so their strides agree; if they did
        # not, no single (lo, hi, jump) could describe the result.
        if self.jump != other.jump:
            raise ValueError(f"branches with different strides meet ({self.jump} vs {other.jump})")
        return AxisField(min(self.lo, other.lo), max(self.hi, other.hi), self.jump)

    def span(self, index: int) -> tuple[int, int]:
        return self.lo + index * self.jump, self.hi + index * self.jump

    def affected(self, start: int, stop: int, size: int) -> tuple[int, int]:
        """Units (half-open range, clipped to ``size``) whose field meets input ``[start, stop)``."""
        low = math.floor((start - self.hi - 1) / self.jump) + 1
        high = math.ceil((stop - self.lo) / self.jump)
        return max(0, low), min(size, max(high, low + 1))


@dataclass(frozen=True)
class ReceptiveField:
    """``kind`` is "local" (rows/cols set), "global", "untracked" (geometry not followed) or
    "constant" (does not depend on the image).

    ``gated``: a global gate multiplies the unit (squeeze-and-excitation). Strictly the unit then
    depends on the whole image; the field shown is that of the convolutional path, which is
    what decides *where* a unit looks.
    """

    kind: str
    rows: AxisField | None = None
    cols: AxisField | None = None
    gated: bool = False

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def axes(self) -> tuple[AxisField, AxisField]:
        if self.rows is None or self.cols is None:
            raise ValueError(f"a {self.kind} receptive field has no extent")
        return self.rows, self.cols

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.axes()[0].size, self.axes()[1].size) if self.is_local else None

    @property
    def jump(self) -> tuple[int, int] | None:
        return (self.axes()[0].jump, self.axes()[1].jump) if self.is_local else None

    @property
    def start(self) -> tuple[float, float] | None:
        return (self.axes()[0].start, self.axes()[1].start) if self.is_local else None

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)`` input pixels seen by unit (row, col), inclusive, unclipped."""
        rows, cols = self.axes()
        y1, y2 = rows.span(row)
        x1, x2 = cols.span(col)
        return x1, y1, x2, y2

    def through(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> ReceptiveField:
        """The field after one more sliding window (padding: the zeros before the first pixel)."""
        if not self.is_local:
            return self
        rows, cols = self.axes()
        return ReceptiveField("local", rows.through(kernel[0], stride[0], padding[0], dilation[0]),
                              cols.through(kernel[1], stride[1], padding[1], dilation[1]), self.gated)

    def union(self, other: ReceptiveField) -> ReceptiveField:
        if self.kind == "global" or other.kind == "global":
            return GLOBAL
        if self.kind == "untracked" or other.kind == "untracked":
            return UNTRACKED
        (rows, cols), (other_rows, other_cols) = self.axes(), other.axes()
        return ReceptiveField("local", rows.union(other_rows), cols.union(other_cols), self.gated or other.gated)

    def affected(self, start: int, stop: int, size: int, dim: int) -> tuple[int, int]:
        """Units along ``dim`` (0: rows, 1: columns) whose field meets input ``[start, stop)``."""
        return self.axes()[dim].affected(start, stop, size)

    def describe(self) -> str:
        if self.kind == "global":
            return "whole image"
        if self.kind == "untracked":
            return "not tracked"
        if self.kind == "constant":
            return "—"
        (rows, cols) = self.axes()
        size = f"{rows.size:g}" if rows.size == cols.size else f"{rows.size:g}×{cols.size:g}"
        jump = f"{rows.jump:g}" if rows.jump == cols.jump else f"{rows.jump:g}×{cols.jump:g}"
        return f"{size} px, jump {jump}" + (" (+ global SE gate)" if self.gated else "")


GLOBAL = ReceptiveField("global")
UNTRACKED = ReceptiveField("untracked")
CONSTANT = ReceptiveField("constant")  # shapes, parameters: nothing of the image
INPUT_FIELD = ReceptiveField("local", AxisField(0, 0, 1), AxisField(0, 0, 1))  # each pixel sees itself


@dataclass(frozen=True)
class FieldState:
    """What a node's output saw, and where its row/column axes are (batch dim included)."""

    field: ReceptiveField
    axes: tuple[int, int] | None


def lost(field: ReceptiveField) -> FieldState:
    """The spatial layout is gone: a global field stays global, a local one is no longer followed."""
    return FieldState(GLOBAL if field.kind == "global" else UNTRACKED, None)


# ---------------------------------------------------------------------------------------------
# One op at a time

Shape = Any  # a node's output shape: a tuple of ints, a list of them (chunk, split), or None


@dataclass(frozen=True)
class Step:
    """One node, with the states and shapes of the inputs that depend on the image.

    ``crop_exact``: only follow what holds on a crop of the input (occlusion's question); a
    pooling whose last window exists or not depending on the input size is then not local.
    """

    node: fx.Node
    module: nn.Module | None
    states: list[FieldState]
    in_shapes: list[Shape]
    out_shape: Shape
    crop_exact: bool = False

    @property
    def first(self) -> FieldState:
        return self.states[0]

    @property
    def in_shape(self) -> Shape:
        return self.in_shapes[0]

    @property
    def in_rank(self) -> int | None:
        return len(self.in_shape) if isinstance(self.in_shape, tuple) else None

    @property
    def out_rank(self) -> int | None:
        return len(self.out_shape) if isinstance(self.out_shape, tuple) else None

    @property
    def trailing(self) -> bool:
        """The input's spatial axes are its last two (NCHW), as sliding windows need."""
        rank = self.in_rank
        return self.first.axes is not None and rank is not None and self.first.axes == (rank - 2, rank - 1)

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if len(self.node.args) > index:
            return self.node.args[index]
        return self.node.kwargs.get(name, default)


RuleFunction = Callable[[Step], FieldState | None]  # None: the result does not depend on the image


@dataclass(frozen=True)
class Rule:
    """How one op moves receptive fields. ``crop_exact``: on a crop of its input the op computes
    the same values, wherever the crop holds the whole window (what occlusion may rely on)."""

    apply: RuleFunction
    crop_exact: bool = False


@dataclass(frozen=True)
class SlidingWindow:
    """Kernel, stride, leading padding and dilation, each (rows, cols); ``size_dependent``: whether
    the last window exists depends on the input size (``ceil_mode``)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)
    size_dependent: bool = False


def _stride_or_kernel(stride: Any, kernel: tuple[int, int]) -> tuple[int, int]:
    return pair(stride) if stride not in (None, (), []) else kernel


WindowModule = nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d


def module_window(module: WindowModule) -> SlidingWindow:
    """The sliding window of a 2-D convolution or pooling module."""
    kernel = pair(module.kernel_size)
    stride = _stride_or_kernel(module.stride, kernel)
    dilation = pair(getattr(module, "dilation", 1))
    return SlidingWindow(kernel, stride, _pad_before(module, kernel, stride, dilation), dilation,
                         bool(getattr(module, "ceil_mode", False)))


def _pad_before(module: WindowModule, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int]) -> tuple[int, int]:
    """Zero rows/columns before the first input row.

    Read from the attributes for PyTorch's own classes; *measured* for subclasses that compute
    their padding in ``forward`` (TensorFlow's SAME, say), which attributes do not describe.
    """
    if type(module) in (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d):
        padding = module.padding
        if padding == "valid":
            return (0, 0)
        if isinstance(padding, str):  # "same": PyTorch puts an odd extra pixel at the end, after the image
            return (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)
        return pair(padding)
    measured = _measure_pad(module, kernel, stride, dilation, 0)
    if measured is None:
        raise GraphError(f"cannot tell how {type(module).__name__} pads its input")
    if any(s > 1 for s in stride) and _measure_pad(module, kernel, stride, dilation, 1) != measured:
        # TensorFlow's SAME with stride 2 pads differently for odd and even sizes: a crop could
        # change the parity of this layer's input, so the layer cannot be run on crops.
        raise GraphError(f"{type(module).__name__}'s padding depends on its input size")
    return measured


def _measure_pad(module: nn.Module, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                 offset: int) -> tuple[int, int] | None:
    """Find P such that output j reads rows [j·s − P, j·s − P + k_eff), from impulse responses.

    A copy with all-ones weights and no bias is fed a single lit row (then column); the outputs
    that light up are exactly those whose window holds it (max and average pooling behave the
    same on a non-negative impulse). Input sizes are multiples of the stride, as the occlusion
    planner's crops are, because TensorFlow's SAME padding depends on that.
    """
    probe = copy.deepcopy(module).float().cpu().eval()
    channels = 1
    weight, bias = getattr(probe, "weight", None), getattr(probe, "bias", None)
    if isinstance(weight, torch.Tensor):
        with torch.no_grad():
            weight.fill_(1.0)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
        channels = int(getattr(probe, "in_channels", 1))
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    sizes = [s * (e + 8) + offset for s, e in zip(stride, effective)]
    result = []
    for dim in range(2):
        s, e, n = stride[dim], effective[dim], sizes[dim]
        candidates = set(range(-2 * e - s, 2 * e + s))
        for row in range(n // 2, n // 2 + s):
            x = torch.zeros(1, channels, sizes[0], sizes[1])
            if dim == 0:
                x[:, :, row, :] = 1.0
            else:
                x[:, :, :, row] = 1.0
            with torch.no_grad():
                out = probe(x)
            lit = out.abs().amax(dim=(0, 1, 3 - dim)) > 0
            observed = {j for j, on in enumerate(lit.tolist()) if on}
            candidates = {p for p in candidates
                          if {j for j in range(len(lit)) if j * s - p <= row < j * s - p + e} == observed}
        if len(candidates) != 1:
            return None
        result.append(candidates.pop())
    return result[0], result[1]


def _function_pool_window(step: Step) -> SlidingWindow:
    kernel = pair(step.arg(1, "kernel_size"))
    stride = _stride_or_kernel(step.arg(2, "stride"), kernel)
    padding = pair(step.arg(3, "padding", 0))
    if step.node.target is F.max_pool2d:
        return SlidingWindow(kernel, stride, padding, pair(step.arg(4, "dilation", 1)), bool(step.arg(5, "ceil_mode", False)))
    return SlidingWindow(kernel, stride, padding, (1, 1), bool(step.arg(4, "ceil_mode", False)))


def _sliding(window_of: Callable[[Step], SlidingWindow]) -> RuleFunction:
    def rule(step: Step) -> FieldState:
        try:
            window = window_of(step)
        except GraphError:
            return lost(step.first.field)
        if not step.trailing or step.out_rank is None or (step.crop_exact and window.size_dependent):
            return lost(step.first.field)
        field = step.first.field.through(window.kernel, window.stride, window.padding, window.dilation)
        return FieldState(field, (step.out_rank - 2, step.out_rank - 1))

    return rule


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _module_of(step: Step, kind: type[ModuleT]) -> ModuleT:
    if not isinstance(step.module, kind):
        raise GraphError(f"{step.node.name} does not call a {kind.__name__}")
    return step.module


def _shift(pads_of: Callable[[Step], tuple[int, int] | None]) -> RuleFunction:
    """Explicit padding: output pixel j is input pixel j − pad (and zeros or copies outside)."""
    def rule(step: Step) -> FieldState:
        pads = pads_of(step)
        if pads is None or not step.trailing:
            return lost(step.first.field)
        return FieldState(step.first.field.through((1, 1), (1, 1), pads), step.first.axes)

    return rule


# Explicit padding layers (2-D): ``padding`` is (left, right, top, bottom).
_PAD_MODULES = (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd)


def _module_pads(step: Step) -> tuple[int, int]:
    module = step.module
    if not isinstance(module, _PAD_MODULES):
        raise GraphError(f"{step.node.name} does not call a padding layer")
    left, _right, top, _bottom = (int(p) for p in module.padding)
    return top, left


def _function_pads(step: Step) -> tuple[int, int] | None:
    pads, mode = step.arg(1, "pad"), step.arg(2, "mode", "constant")
    if mode != "constant" or not isinstance(pads, (tuple, list)) or len(pads) < 4 \
            or not all(isinstance(p, int) for p in pads):
        return None
    return pads[2], pads[0]


def _positionwise(step: Step) -> FieldState:
    """Position-wise ops over one or more inputs (add, concat, activations): the union of the
    inputs' fields.

    A global 1×1 input broadcast over a larger map is a squeeze-and-excitation gate: it is left
    out of the union and the result is marked ``gated`` (see :class:`ReceptiveField`).
    """
    states, out_shape, out_rank = step.states, step.out_shape, step.out_rank
    axes = next((s.axes for s in states if s.axes is not None and s.field.kind != "global"), None)
    axes = axes or next((s.axes for s in states if s.axes is not None), None)
    kept, gated = [], False
    for state, shape in zip(states, step.in_shapes):
        if (state.field.kind == "global" and axes and isinstance(shape, tuple) and isinstance(out_shape, tuple)
                and len(shape) == len(out_shape) and all(shape[a] == 1 for a in axes)
                and any(out_shape[a] > 1 for a in axes)):
            gated = True
            continue
        kept.append(state.field)
    merged = kept[0]
    try:
        for other in kept[1:]:
            merged = merged.union(other)
    except ValueError:
        return lost(merged)  # maps of different strides meet: no single field describes the result
    if gated and merged.is_local:
        merged = replace(merged, gated=True)
    return FieldState(merged, axes if out_rank is None or axes is None or max(axes) < out_rank else None)


def _concatenate(step: Step) -> FieldState:
    dim = step.arg(1, "dim", 0) % (step.out_rank or 1)
    if step.first.axes and dim in step.first.axes:
        return lost(step.first.field)  # joining maps side by side: positions no longer align
    if step.crop_exact and dim != 1:
        return lost(step.first.field)  # only channel concatenation of NCHW maps is cropped alike
    return _positionwise(step)


def _adaptive(step: Step) -> FieldState:
    """Adaptive pooling: identity, global, or (when the input divides evenly) a plain pooling."""
    first = step.first
    if not step.trailing or step.out_rank is None or first.axes is None:
        return lost(first.field)
    axes = (step.out_rank - 2, step.out_rank - 1)
    in_hw = tuple(step.in_shape[a] for a in first.axes)
    out_hw = tuple(step.out_shape[-2:])
    if out_hw == in_hw:
        return FieldState(first.field, axes)
    if out_hw == (1, 1):
        return FieldState(GLOBAL, axes)
    if all(i % o == 0 for i, o in zip(in_hw, out_hw)):
        kernel = (in_hw[0] // out_hw[0], in_hw[1] // out_hw[1])
        return FieldState(first.field.through(kernel, kernel, (0, 0)), axes)
    # Uneven bins overlap by varying amounts; no single kernel describes them.
    return FieldState(UNTRACKED, axes)


def _last_dim(step: Step) -> FieldState:
    """A dense layer acts on the last dimension."""
    state, rank = step.first, step.in_rank
    if rank == 2:
        # (N, features) after flattening: every output mixes every position.
        return FieldState(GLOBAL, None)
    if state.axes and rank is not None and rank - 1 in state.axes:
        return lost(state.field)  # mixing along a spatial axis
    return state  # channels-last maps or tokens: position by position


def _everything(step: Step) -> FieldState:
    return FieldState(GLOBAL, None)  # self-attention: every token sees every other


def _normalise(normalised_dims: Callable[[Step], int]) -> RuleFunction:
    def rule(step: Step) -> FieldState:
        state, rank = step.first, step.in_rank
        if state.axes and rank is not None and any(a >= rank - normalised_dims(step) for a in state.axes):
            return FieldState(GLOBAL, state.axes)  # statistics over positions depend on all of them
        return state

    return rule


def _flatten(dims_of: Callable[[Step], tuple[int, int]]) -> RuleFunction:
    def rule(step: Step) -> FieldState:
        state, in_shape = step.first, step.in_shape
        if not isinstance(in_shape, tuple):
            return lost(state.field)
        rank = len(in_shape)
        start, end = (d % rank for d in dims_of(step))
        if not state.axes:
            return state
        if not set(range(start, end + 1)) & set(state.axes):
            shift = end - start
            return FieldState(state.field, (state.axes[0] - shift if state.axes[0] > end else state.axes[0],
                                            state.axes[1] - shift if state.axes[1] > end else state.axes[1]))
        if all(in_shape[a] == 1 for a in state.axes):
            return FieldState(state.field, None)  # a 1×1 map: nothing spatial is lost
        # A map flattened into a vector: each element still has its own local field, but the vector
        # has no spatial layout left to show, and the dense layer after it sees everything.
        return lost(state.field)

    return rule


def _reduce(step: Step) -> FieldState:
    state, in_rank, out_rank = step.first, step.in_rank, step.out_rank
    dims = step.arg(1, "dim")
    if dims is None or in_rank is None:
        return FieldState(GLOBAL, None)
    reduced = {d % in_rank for d in ([dims] if isinstance(dims, int) else dims)}
    if not state.axes:
        return state
    if set(state.axes) <= reduced:
        return FieldState(GLOBAL, None if out_rank != in_rank else state.axes)
    if not reduced & set(state.axes):
        if out_rank == in_rank:
            return state
        row, col = state.axes
        return FieldState(state.field, (row - sum(d < row for d in reduced), col - sum(d < col for d in reduced)))
    return lost(state.field)


def _permute(dims_of: Callable[[Step], Sequence[Any] | None]) -> RuleFunction:
    def rule(step: Step) -> FieldState:
        state, dims = step.first, dims_of(step)
        if not state.axes or dims is None:
            return state
        order = [int(d) % len(dims) for d in dims]
        return FieldState(state.field, (order.index(state.axes[0]), order.index(state.axes[1])))

    return rule


def _method_permute_dims(step: Step) -> Sequence[Any]:
    dims = step.node.args[1:]  # x.permute(0, 2, 3, 1) or x.permute((0, 2, 3, 1))
    return dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims


def _transpose(step: Step) -> FieldState:
    state, rank = step.first, step.in_rank
    if not state.axes or rank is None:
        return state
    dim0, dim1 = step.arg(1, "dim0") % rank, step.arg(2, "dim1") % rank
    swap = {dim0: dim1, dim1: dim0}
    return FieldState(state.field, (swap.get(state.axes[0], state.axes[0]), swap.get(state.axes[1], state.axes[1])))


def _reshape(step: Step) -> FieldState:
    """Reshapes that only regroup channels (ShuffleNet's channel shuffle) keep the layout."""
    state, in_shape, out_shape = step.first, step.in_shape, step.out_shape
    if not state.axes or not isinstance(in_shape, tuple) or not isinstance(out_shape, tuple):
        return lost(state.field) if state.axes else state
    in_rank, out_rank = len(in_shape), len(out_shape)
    if state.axes == (in_rank - 2, in_rank - 1) and tuple(out_shape[-2:]) == tuple(in_shape[-2:]) and out_rank >= 3:
        return FieldState(state.field, (out_rank - 2, out_rank - 1))
    if all(in_shape[a] == 1 for a in state.axes):
        return FieldState(state.field, None)
    return lost(state.field)


def _split(step: Step) -> FieldState:
    state, rank = step.first, step.in_rank
    if state.axes and rank is not None and step.arg(2, "dim", 0) % rank in state.axes:
        return lost(state.field)
    return state


def _getitem(step: Step) -> FieldState:
    state = step.first
    if isinstance(step.in_shape, list):
        return state  # one output of chunk/split
    if state.axes is None:
        return state  # e.g. ViT's class token x[:, 0]
    index = step.node.args[1]
    items = index if isinstance(index, tuple) else (index,)
    # Plain "take everything" slices on the spatial axes keep the layout; anything else is
    # cropping or picking positions, which we do not follow.
    touched = [i for i, item in enumerate(items) if not (isinstance(item, slice) and item == slice(None))]
    if any(i in state.axes for i in touched) or Ellipsis in items:
        return lost(state.field)
    return state


def _no_image_content(step: Step) -> None:
    return None  # sizes and dtypes: they do not depend on what the image shows


def _attribute(step: Step) -> FieldState | None:
    if step.arg(1, "name") in ("shape", "dtype", "device"):
        return None
    return lost(step.first.field)


POSITIONWISE = Rule(_positionwise, crop_exact=True)
def _window_module(step: Step) -> WindowModule:
    if not isinstance(step.module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        raise GraphError(f"{step.node.name} does not call a 2-D convolution or pooling")
    return step.module


SLIDING_MODULE = Rule(_sliding(lambda step: module_window(_window_module(step))), crop_exact=True)

MODULE_RULES: dict[type[nn.Module], Rule] = {
    nn.Conv2d: SLIDING_MODULE,
    nn.MaxPool2d: SLIDING_MODULE,
    nn.AvgPool2d: SLIDING_MODULE,
    nn.ZeroPad2d: Rule(_shift(_module_pads), crop_exact=True),
    nn.ConstantPad2d: Rule(_shift(_module_pads), crop_exact=True),
    nn.ReflectionPad2d: Rule(_shift(_module_pads), crop_exact=True),
    nn.ReplicationPad2d: Rule(_shift(_module_pads), crop_exact=True),
    nn.AdaptiveAvgPool2d: Rule(_adaptive),
    nn.AdaptiveMaxPool2d: Rule(_adaptive),
    nn.Linear: Rule(_last_dim),
    nn.MultiheadAttention: Rule(_everything),
    nn.LayerNorm: Rule(_normalise(lambda step: len(_module_of(step, nn.LayerNorm).normalized_shape))),
    nn.Flatten: Rule(_flatten(lambda step: (_module_of(step, nn.Flatten).start_dim, _module_of(step, nn.Flatten).end_dim))),
    **{positionwise: POSITIONWISE for positionwise in (
        nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardswish, nn.Hardsigmoid,
        nn.SiLU, nn.GELU, nn.ELU, nn.SELU, nn.CELU, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Softplus, nn.Mish,
        nn.Identity, nn.Dropout, nn.Dropout2d, nn.AlphaDropout,
        nn.LocalResponseNorm, nn.CrossMapLRN2d,  # normalise across channels, position by position
    )},
}

_FLATTEN_ARGS = _flatten(lambda step: (step.arg(1, "start_dim", 0), step.arg(2, "end_dim", -1)))

FUNCTION_RULES: dict[Callable[..., Any], Rule] = {
    F.max_pool2d: Rule(_sliding(_function_pool_window), crop_exact=True),
    F.avg_pool2d: Rule(_sliding(_function_pool_window), crop_exact=True),
    F.pad: Rule(_shift(_function_pads), crop_exact=True),
    torch.cat: Rule(_concatenate, crop_exact=True),
    F.adaptive_avg_pool2d: Rule(_adaptive),
    F.adaptive_max_pool2d: Rule(_adaptive),
    F.linear: Rule(_last_dim),
    F.layer_norm: Rule(_normalise(lambda step: len(step.arg(1, "normalized_shape")))),
    torch.flatten: Rule(_FLATTEN_ARGS),
    torch.mean: Rule(_reduce),
    torch.sum: Rule(_reduce),
    torch.amax: Rule(_reduce),
    torch.permute: Rule(_permute(lambda step: step.arg(1, "dims"))),
    torch.transpose: Rule(_transpose),
    torch.reshape: Rule(_reshape),
    operator.getitem: Rule(_getitem),
    torch.chunk: Rule(_split),
    torch.split: Rule(_split),
    getattr: Rule(_attribute),
    **{positionwise: POSITIONWISE for positionwise in (
        operator.add, operator.iadd, operator.sub, operator.mul, operator.imul, operator.truediv, operator.neg,
        torch.add, torch.sub, torch.mul, torch.div, torch.neg, torch.abs, torch.clamp,
        torch.relu, torch.sigmoid, torch.tanh,
        F.relu, F.relu6, F.leaky_relu, F.hardswish, F.hardsigmoid, F.silu, F.gelu, F.elu, F.hardtanh,
        F.sigmoid, F.tanh, F.mish, F.softplus, F.dropout, torchvision.ops.stochastic_depth,
    )},
}

METHOD_RULES: dict[str, Rule] = {
    "flatten": Rule(_FLATTEN_ARGS),
    "mean": Rule(_reduce),
    "sum": Rule(_reduce),
    "amax": Rule(_reduce),
    "permute": Rule(_permute(_method_permute_dims)),
    "transpose": Rule(_transpose),
    "view": Rule(_reshape),
    "reshape": Rule(_reshape),
    "chunk": Rule(_split),
    "split": Rule(_split),
    **{name: Rule(_no_image_content) for name in ("size", "dim", "numel")},
    **{name: POSITIONWISE for name in (
        "relu", "relu_", "sigmoid", "tanh", "clamp", "clamp_", "clamp_min", "clamp_max", "add", "add_", "mul",
        "mul_", "sub", "div", "div_", "neg", "abs", "contiguous", "clone", "float", "half", "to", "type_as",
    )},
}


def rule_for(node: fx.Node, module: nn.Module | None = None) -> Rule | None:
    """The rule of ``node``'s op (a module's class, or the nearest base class that has one), or None."""
    if node.op == "call_module" and module is not None:
        return next((MODULE_RULES[cls] for cls in type(module).__mro__ if cls in MODULE_RULES), None)
    if node.op == "call_function" and callable(node.target):
        try:
            return FUNCTION_RULES.get(node.target)
        except TypeError:  # an unhashable callable cannot be in the table
            return None
    if node.op == "call_method" and isinstance(node.target, str):
        return METHOD_RULES.get(node.target)
    return None


def propagate(step: Step) -> FieldState | None:
    """The state after ``step``'s op.

    An op without a rule is not guessed at: a global field stays global and a local one becomes
    "untracked". With ``crop_exact``, so does an op whose rule is not marked ``crop_exact``.
    """
    rule = rule_for(step.node, step.module)
    if rule is None or (step.crop_exact and not rule.crop_exact):
        return lost(step.first.field)
    return rule.apply(step)
