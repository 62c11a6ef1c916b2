"""A network as a list of layers: output shape, MACs, depth and receptive field of each.

The network is traced with torch.fx (with torchvision's feature-extraction tracer, so node
names are the modules' qualified names, e.g. ``layer1.0.conv1``) and run once on the meta
device: shapes and operation counts come out without any weights or arithmetic.

Receptive fields are computed analytically through the graph. Per axis, unit 0 of a layer sees
input pixels ``lo … hi`` (inclusive; may lie outside the image, in the padding) and neighbouring
units are ``jump`` pixels apart, so unit ``i`` sees ``lo + i·jump … hi + i·jump``. A convolution
or pooling with kernel ``k``, stride ``s``, padding ``p``, dilation ``d`` maps this to::

    lo' = lo − p·jump      hi' = hi + ((k − 1)·d − p)·jump      jump' = jump·s

Where branches meet (residual add, Inception concat) the field is the union of the branches'
fields. Anything that mixes all positions (global pooling, a dense layer on the flattened map,
squeeze-and-excitation gates, self-attention) makes the field global.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

from cvdemo.geometry import pair

WEIGHTED_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)
KERNEL_MODULES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class AxisField:
    """Receptive field along one axis, for unit 0, in input pixels (inclusive bounds)."""

    lo: float
    hi: float
    jump: float

    @property
    def size(self) -> float:
        return self.hi - self.lo + 1

    @property
    def start(self) -> float:
        """Centre of unit 0's field (the classic 'start' of the receptive-field arithmetic)."""
        return (self.lo + self.hi) / 2

    def through(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> "AxisField":
        return AxisField(
            self.lo - padding * self.jump,
            self.hi + ((kernel - 1) * dilation - padding) * self.jump,
            self.jump * stride,
        )

    def union(self, other: "AxisField") -> "AxisField":
        # Branches that meet have outputs of the same size, so their strides agree; if they did
        # not, no single (lo, hi, jump) could describe the result.
        if not math.isclose(self.jump, other.jump):
            raise ValueError(f"branches with different strides meet ({self.jump} vs {other.jump})")
        return AxisField(min(self.lo, other.lo), max(self.hi, other.hi), self.jump)

    def span(self, index: int) -> tuple[float, float]:
        return self.lo + index * self.jump, self.hi + index * self.jump


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

    @property
    def size(self) -> tuple[float, float] | None:
        return (self.rows.size, self.cols.size) if self.is_local else None

    @property
    def jump(self) -> tuple[float, float] | None:
        return (self.rows.jump, self.cols.jump) if self.is_local else None

    @property
    def start(self) -> tuple[float, float] | None:
        return (self.rows.start, self.cols.start) if self.is_local else None

    def box(self, row: int, col: int) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)`` input pixels seen by unit (row, col), inclusive, unclipped."""
        if not self.is_local:
            raise ValueError(f"a {self.kind} receptive field has no box")
        y1, y2 = self.rows.span(row)
        x1, x2 = self.cols.span(col)
        return x1, y1, x2, y2

    def union(self, other: "ReceptiveField") -> "ReceptiveField":
        if self.kind == "global" or other.kind == "global":
            return GLOBAL
        if self.kind == "untracked" or other.kind == "untracked":
            return UNTRACKED
        return ReceptiveField("local", self.rows.union(other.rows), self.cols.union(other.cols), self.gated or other.gated)

    def describe(self) -> str:
        if self.kind == "global":
            return "whole image"
        if self.kind == "untracked":
            return "not tracked"
        if self.kind == "constant":
            return "—"
        (rh, rw), (jh, jw) = self.size, self.jump
        size = f"{rh:g}" if rh == rw else f"{rh:g}×{rw:g}"
        jump = f"{jh:g}" if jh == jw else f"{jh:g}×{jw:g}"
        return f"{size} px, jump {jump}" + (" (+ global SE gate)" if self.gated else "")


GLOBAL = ReceptiveField("global")
UNTRACKED = ReceptiveField("untracked")
CONSTANT = ReceptiveField("constant")  # shapes, parameters: nothing of the image
INPUT_FIELD = ReceptiveField("local", AxisField(0, 0, 1), AxisField(0, 0, 1))


@dataclass
class Layer:
    name: str  # qualified name, e.g. "features.0" or "layer1.0.add"
    op: str  # "Conv2d", "MaxPool2d", "add", "cat", …
    shape: tuple[int, ...] | None  # output shape without the batch dimension
    field: ReceptiveField
    depth: int  # weighted layers on the longest path from the input up to here, inclusive
    macs: int  # multiply-accumulates of this node (FlopCounterMode's FLOPs / 2)
    params: int  # parameters of this node's module (0 for functions, or for a module's second use)
    detail: str = ""  # kernel/stride/padding, channel counts
    weighted: bool = False
    inputs: tuple[str, ...] = ()
    spatial_layout: bool = False  # a (C, H, W) map whose units have a tracked field

    @property
    def spatial(self) -> bool:
        return self.spatial_layout and self.field.is_local

    def as_row(self) -> dict:
        rf = self.field
        return {
            "layer": self.name,
            "op": self.op,
            "detail": self.detail,
            "output": "×".join(str(s) for s in self.shape) if self.shape else "",
            "depth": self.depth,
            "params": self.params,
            "MACs": self.macs,
            "RF size": ("×".join(f"{s:g}" for s in sorted(set(rf.size), reverse=True)) if rf.is_local else rf.describe()),
            "jump": ("×".join(f"{s:g}" for s in sorted(set(rf.jump), reverse=True)) if rf.is_local else ""),
            "start": (", ".join(f"{s:g}" for s in rf.start) if rf.is_local else ""),
        }


@dataclass
class LayerGraph:
    network_name: str
    input_size: tuple[int, int]
    layers: list[Layer]
    module: Any = field(repr=False, default=None)  # the traced GraphModule (meta device)

    def __getitem__(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def depth(self) -> int:
        return max((layer.depth for layer in self.layers), default=0)

    @property
    def weighted_layers(self) -> int:
        return sum(layer.weighted for layer in self.layers)

    @property
    def params_used(self) -> int:
        return sum(layer.params for layer in self.layers)

    def spatial_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.spatial]

    def rows(self) -> list[dict]:
        return [layer.as_row() for layer in self.layers]


def _module_geometry(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """(kernel, stride, padding, dilation) of a conv/pool module, each as (rows, cols)."""
    kernel = pair(module.kernel_size)
    stride = pair(module.stride if module.stride not in (None, (), []) else module.kernel_size)
    dilation = pair(getattr(module, "dilation", 1))
    padding = module.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        # PyTorch puts an odd extra padding pixel at the end; only the leading padding moves lo.
        padding = tuple((d * (k - 1)) // 2 for k, d in zip(kernel, dilation))
    return kernel, stride, pair(padding), dilation


def _through(rf: ReceptiveField, kernel, stride, padding, dilation=(1, 1)) -> ReceptiveField:
    if not rf.is_local:
        return rf
    return ReceptiveField(
        "local",
        rf.rows.through(kernel[0], stride[0], padding[0], dilation[0]),
        rf.cols.through(kernel[1], stride[1], padding[1], dilation[1]),
        rf.gated,
    )


def _adaptive(rf: ReceptiveField, in_hw, out_hw) -> ReceptiveField:
    """Adaptive pooling: identity, global, or (when the input divides evenly) a plain pooling."""
    if tuple(out_hw) == tuple(in_hw):
        return rf
    if tuple(out_hw) == (1, 1):
        return GLOBAL
    if all(i % o == 0 for i, o in zip(in_hw, out_hw)):
        kernel = tuple(i // o for i, o in zip(in_hw, out_hw))
        return _through(rf, kernel, kernel, (0, 0))
    # Uneven bins overlap by varying amounts; no single kernel describes them.
    return UNTRACKED


@dataclass(frozen=True)
class _State:
    """What a node's output saw, and where its row/column axes are (batch dim included)."""

    field: ReceptiveField
    axes: tuple[int, int] | None


def _lost(field_: ReceptiveField) -> _State:
    """The spatial layout is gone: a global field stays global, a local one is no longer followed."""
    return _State(GLOBAL if field_.kind == "global" else UNTRACKED, None)


# Functions and methods that act position by position (or join branches position by position).
_POSITIONWISE_FUNCTIONS = {
    operator.add, operator.iadd, operator.mul, operator.imul, operator.sub, operator.truediv,
    torch.add, torch.mul, torch.sub, torch.relu, torch.sigmoid, torch.tanh, torch.cat,
    F.relu, F.relu6, F.hardswish, F.hardsigmoid, F.silu, F.gelu, F.dropout, F.hardtanh, F.sigmoid,
    torchvision.ops.stochastic_depth,
}
_POSITIONWISE_METHODS = {
    "relu", "relu_", "sigmoid", "contiguous", "clone", "mul", "mul_", "add", "add_", "to", "float",
    "type_as", "div", "div_", "sub", "clamp", "clamp_",
}
_NOT_CONTENT_METHODS = {"size", "dim", "numel"}
_MATMUL_FUNCTIONS = {torch.matmul, torch.bmm, torch.mm, F.linear, F.conv2d, F.scaled_dot_product_attention, torch.einsum}


class _Recorder(fx.Interpreter):
    """Runs the traced graph node by node on meta tensors, counting each node's operations.

    Only nodes that can multiply (weighted modules, matmul-like functions) get a FLOP counter:
    entering one per node would double the time for nothing. The test suite checks the sum
    against a whole-network count.
    """

    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.shapes: dict[fx.Node, Any] = {}
        self.macs: dict[fx.Node, int] = {}

    def run_node(self, node: fx.Node) -> Any:
        if self._may_multiply(node):
            counter = FlopCounterMode(display=False)
            with counter:
                result = super().run_node(node)
            self.macs[node] = counter.get_total_flops() // 2  # FlopCounterMode counts 2 FLOPs per MAC
        else:
            result = super().run_node(node)
        if isinstance(result, torch.Tensor):
            self.shapes[node] = tuple(result.shape)
        elif isinstance(result, (tuple, list)) and all(isinstance(r, torch.Tensor) for r in result):
            self.shapes[node] = [tuple(r.shape) for r in result]
        else:
            self.shapes[node] = None
        return result

    def _may_multiply(self, node: fx.Node) -> bool:
        if node.op == "call_module":
            return isinstance(self.module.get_submodule(node.target), (*WEIGHTED_MODULES, nn.MultiheadAttention))
        if node.op == "call_function":
            return node.target in _MATMUL_FUNCTIONS or node.target is operator.matmul
        return node.op == "call_method" and node.target in ("matmul", "bmm", "mm")


def _op_name(node: fx.Node, module: nn.Module | None) -> str:
    if node.op == "placeholder":
        return "input"
    if module is not None:
        return type(module).__name__
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    return str(node.target)


def _detail(module: nn.Module | None) -> str:
    if isinstance(module, nn.Conv2d):
        k, s = pair(module.kernel_size), pair(module.stride)
        groups = ""
        if module.groups > 1:
            groups = ", depthwise" if module.groups == module.in_channels else f", groups={module.groups}"
        padding = module.padding if isinstance(module.padding, str) else pair(module.padding)
        pad = padding if isinstance(padding, str) else (padding[0] if padding[0] == padding[1] else padding)
        return f"{module.in_channels}→{module.out_channels}, {k[0]}×{k[1]} stride {s[0] if s[0] == s[1] else s} pad {pad}{groups}"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"{module.kernel_size} stride {module.stride} pad {module.padding}"
    if isinstance(module, nn.Linear):
        return f"{module.in_features}→{module.out_features}"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"→{module.output_size}"
    return ""


def trace(network: nn.Module) -> tuple[fx.GraphModule, dict[fx.Node, str]]:
    """FX graph of ``network`` in eval mode, and each node's qualified name.

    torchvision's tracer names nodes after the module path (``layer1.0.conv1``, ``layer1.0.add``);
    unlike its ``create_feature_extractor`` default we trace *through* torchvision's own building
    blocks (Conv2dNormActivation, SqueezeExcitation, …) so that every convolution is a node.
    """
    from torchvision.models.feature_extraction import NodePathTracer

    was_training = network.training
    network.eval()
    try:
        tracer = NodePathTracer()
        graph = tracer.trace(network)
    finally:
        network.train(was_training)
    traced = fx.GraphModule(tracer.root, graph, type(network).__name__)
    names = {node: tracer.node_to_qualname.get(node, node.name) for node in traced.graph.nodes}
    return traced, names


def analyse(network: nn.Module, input_size: tuple[int, int] = (224, 224), name: str = "") -> LayerGraph:
    """Describe every node of ``network`` (any device; analysed on a weightless meta copy)."""
    network = to_meta(network).eval()
    traced, qualname = trace(network)
    recorder = _Recorder(traced)
    with torch.no_grad():
        dtype = next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)
        recorder.run(torch.zeros(1, 3, *input_size, device="meta", dtype=dtype))

    states: dict[fx.Node, _State | None] = {}
    depths: dict[fx.Node, int] = {}
    seen_modules: set[str] = set()
    layers: list[Layer] = []
    for node in traced.graph.nodes:
        if node.op == "output":
            continue
        module = traced.get_submodule(node.target) if node.op == "call_module" else None
        inputs = list(node.all_input_nodes)
        weighted = isinstance(module, (*WEIGHTED_MODULES, nn.MultiheadAttention))
        steps = 2 if isinstance(module, nn.MultiheadAttention) else int(weighted)  # in- and out-projection
        depths[node] = max((depths.get(n, 0) for n in inputs), default=0) + steps
        states[node] = _propagate(node, module, inputs, states, recorder.shapes)
        params = 0
        if module is not None and node.target not in seen_modules:
            seen_modules.add(node.target)
            params = sum(p.numel() for p in module.parameters())
        elif node.op == "get_attr":
            attr = _get_attr(traced, node.target)
            params = attr.numel() if isinstance(attr, nn.Parameter) else 0
        shape = recorder.shapes.get(node)
        state = states[node]
        spatial_layout = state is not None and isinstance(shape, tuple) and len(shape) == 4 and state.axes == (2, 3)
        layers.append(Layer(
            name=qualname.get(node, node.name), op=_op_name(node, module),
            shape=tuple(shape[1:]) if isinstance(shape, tuple) else None,
            field=state.field if state is not None else CONSTANT,
            depth=depths[node], macs=recorder.macs.get(node, 0), params=params, detail=_detail(module),
            weighted=weighted, inputs=tuple(qualname.get(n, n.name) for n in inputs), spatial_layout=spatial_layout,
        ))
    return LayerGraph(name or type(network).__name__, tuple(input_size), layers, traced)


def _get_attr(module: nn.Module, target: str):
    obj = module
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def to_meta(network: nn.Module) -> nn.Module:
    """A structural copy on the meta device, so that analysing a loaded (shared) model neither
    copies its weights nor modifies it."""
    import copy

    if all(p.device.type == "meta" for p in network.parameters()):
        return network
    memo: dict[int, Any] = {}
    for tensor in list(network.parameters()) + list(network.buffers()):
        meta = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = nn.Parameter(meta, requires_grad=tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(network, memo)


def _arg(node: fx.Node, index: int, name: str, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _merge(states: list[_State], out_rank: int | None, in_shapes: list | None = None, out_shape=None) -> _State:
    """Position-wise ops over one or more inputs (add, concat, activations): the union of the
    inputs' fields.

    A global 1×1 input broadcast over a larger map is a squeeze-and-excitation gate: it is left
    out of the union and the result is marked ``gated`` (see :class:`ReceptiveField`).
    """
    axes = next((s.axes for s in states if s.axes is not None and s.field.kind != "global"), None)
    axes = axes or next((s.axes for s in states if s.axes is not None), None)
    kept, gated = [], False
    for index, state in enumerate(states):
        shape = in_shapes[index] if in_shapes else None
        if (state.field.kind == "global" and axes and isinstance(shape, tuple) and isinstance(out_shape, tuple)
                and len(shape) == len(out_shape) and all(shape[a] == 1 for a in axes)
                and any(out_shape[a] > 1 for a in axes)):
            gated = True
            continue
        kept.append(state.field)
    merged = kept[0]
    for other in kept[1:]:
        merged = merged.union(other)
    if gated and merged.is_local:
        merged = ReceptiveField("local", merged.rows, merged.cols, True)
    return _State(merged, axes if out_rank is None or axes is None or max(axes) < out_rank else None)


def _propagate(node: fx.Node, module, inputs, states, shapes) -> _State | None:
    if node.op == "placeholder":
        return _State(INPUT_FIELD, (2, 3))
    dependent = [n for n in inputs if states.get(n) is not None]
    if node.op == "get_attr" or not dependent:
        return None  # a constant or a shape: it does not depend on the image content
    if node.op == "call_method" and node.target in _NOT_CONTENT_METHODS:
        return None
    if node.op == "call_function" and node.target is getattr and _arg(node, 1, "name") in ("shape", "dtype", "device"):
        return None
    first = states[dependent[0]]
    in_shape = shapes.get(dependent[0])
    out_shape = shapes.get(node)
    in_rank = len(in_shape) if isinstance(in_shape, tuple) else None
    out_rank = len(out_shape) if isinstance(out_shape, tuple) else None
    in_hw = tuple(in_shape[a] for a in first.axes) if first.axes and in_rank else None
    trailing = first.axes is not None and in_rank is not None and first.axes == (in_rank - 2, in_rank - 1)

    def kernel_op(geometry) -> _State:
        if not trailing:
            return _lost(first.field)
        return _State(_through(first.field, *geometry), (out_rank - 2, out_rank - 1))

    def adaptive_op() -> _State:
        if not trailing or out_rank is None:
            return _lost(first.field)
        return _State(_adaptive(first.field, in_hw, out_shape[-2:]), (out_rank - 2, out_rank - 1))

    if module is not None:
        if isinstance(module, KERNEL_MODULES):
            return kernel_op(_module_geometry(module))
        if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return adaptive_op()
        if isinstance(module, nn.Linear):
            return _last_dim_op(first, in_rank)
        if isinstance(module, nn.MultiheadAttention):
            return _State(GLOBAL, None)
        if isinstance(module, nn.LayerNorm):
            return _normalise(first, in_rank, len(module.normalized_shape))
        if isinstance(module, nn.Flatten):
            return _flatten(first, in_shape, module.start_dim, module.end_dim)
        # Batch norm, activations, dropout, identity: position-wise.
        return _merge([states[n] for n in dependent], out_rank, [shapes.get(n) for n in dependent], out_shape)

    target = node.target
    if node.op == "call_function":
        if target in (F.max_pool2d, F.avg_pool2d):
            kernel = pair(_arg(node, 1, "kernel_size"))
            stride = _arg(node, 2, "stride", None)
            stride = pair(stride) if stride not in (None, [], ()) else kernel
            padding = pair(_arg(node, 3, "padding", 0))
            dilation = pair(_arg(node, 4, "dilation", 1)) if target is F.max_pool2d else (1, 1)
            return kernel_op((kernel, stride, padding, dilation))
        if target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            return adaptive_op()
        if target is F.linear:
            return _last_dim_op(first, in_rank)
        if target is F.layer_norm:
            return _normalise(first, in_rank, len(_arg(node, 1, "normalized_shape")))
        if target is torch.flatten:
            return _flatten(first, in_shape, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        if target in (torch.mean, torch.sum, torch.amax):
            return _reduce(node, first, in_rank, out_rank)
        if target is torch.permute:
            return _permute(first, _arg(node, 1, "dims"))
        if target is torch.transpose:
            return _transpose(first, in_rank, _arg(node, 1, "dim0"), _arg(node, 2, "dim1"))
        if target is torch.reshape:
            return _reshape(first, in_shape, out_shape)
        if target is torch.cat:
            dim = _arg(node, 1, "dim", 0) % (out_rank or 1)
            if first.axes and dim in first.axes:
                return _lost(first.field)  # joining maps side by side: positions no longer align
            return _merge([states[n] for n in dependent], out_rank, [shapes.get(n) for n in dependent], out_shape)
        if target is operator.getitem:
            return _getitem(node, first, in_shape)
        if target in (torch.chunk, torch.split):
            return _split(first, in_rank, _arg(node, 2, "dim", 0))
        if target in _POSITIONWISE_FUNCTIONS:
            return _merge([states[n] for n in dependent], out_rank, [shapes.get(n) for n in dependent], out_shape)
    if node.op == "call_method":
        if target in ("mean", "sum", "amax"):
            return _reduce(node, first, in_rank, out_rank)
        if target == "flatten":
            return _flatten(first, in_shape, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        if target == "permute":
            dims = node.args[1:]
            dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
            return _permute(first, dims)
        if target == "transpose":
            return _transpose(first, in_rank, node.args[1], node.args[2])
        if target in ("view", "reshape"):
            return _reshape(first, in_shape, out_shape)
        if target in ("chunk", "split"):
            return _split(first, in_rank, _arg(node, 2, "dim", 0))
        if target in _POSITIONWISE_METHODS:
            return _merge([states[n] for n in dependent], out_rank, [shapes.get(n) for n in dependent], out_shape)
    # Anything else: keep a global field global, otherwise stop following it rather than guess.
    return _lost(first.field)


def _last_dim_op(state: _State, rank: int | None) -> _State:
    """A dense layer acts on the last dimension."""
    if rank == 2:
        # (N, features) after flattening: every output mixes every position.
        return _State(GLOBAL, None)
    if state.axes and rank is not None and rank - 1 in state.axes:
        return _lost(state.field)  # mixing along a spatial axis
    return state  # channels-last maps or tokens: position by position


def _normalise(state: _State, rank: int | None, normalised_dims: int) -> _State:
    if state.axes and rank is not None and any(a >= rank - normalised_dims for a in state.axes):
        return _State(GLOBAL, state.axes)  # statistics over positions depend on all of them
    return state


def _flatten(state: _State, in_shape, start: int, end: int) -> _State:
    if not isinstance(in_shape, tuple):
        return _lost(state.field)
    rank = len(in_shape)
    start, end = start % rank, end % rank
    if not state.axes:
        return state
    merged = set(range(start, end + 1))
    if not merged & set(state.axes):
        shift = end - start
        return _State(state.field, tuple(a - shift if a > end else a for a in state.axes))
    if all(in_shape[a] == 1 for a in state.axes):
        return _State(state.field, None)  # a 1×1 map: nothing spatial is lost
    # A map flattened into a vector: each element still has its own local field, but the vector
    # has no spatial layout left to show, and the dense layer after it sees everything.
    return _lost(state.field)


def _reduce(node, state: _State, in_rank, out_rank) -> _State:
    dims = _arg(node, 1, "dim", None)
    if dims is None or in_rank is None:
        return _State(GLOBAL, None)
    dims = {d % in_rank for d in ([dims] if isinstance(dims, int) else dims)}
    if not state.axes:
        return state
    if set(state.axes) <= dims:
        return _State(GLOBAL, None if out_rank != in_rank else state.axes)
    if not dims & set(state.axes):
        keep = out_rank == in_rank
        return _State(state.field, tuple(a if keep else a - sum(d < a for d in dims) for a in state.axes))
    return _lost(state.field)


def _permute(state: _State, dims) -> _State:
    if not state.axes or dims is None:
        return state
    dims = [int(d) for d in dims]
    rank = len(dims)
    dims = [d % rank for d in dims]
    return _State(state.field, (dims.index(state.axes[0]), dims.index(state.axes[1])))


def _transpose(state: _State, rank, dim0: int, dim1: int) -> _State:
    if not state.axes or rank is None:
        return state
    dim0, dim1 = dim0 % rank, dim1 % rank
    swap = {dim0: dim1, dim1: dim0}
    return _State(state.field, tuple(swap.get(a, a) for a in state.axes))


def _reshape(state: _State, in_shape, out_shape) -> _State:
    """Reshapes that only regroup channels (ShuffleNet's channel shuffle) keep the layout."""
    if not state.axes or not isinstance(in_shape, tuple) or not isinstance(out_shape, tuple):
        return _lost(state.field) if state.axes else state
    in_rank, out_rank = len(in_shape), len(out_shape)
    if state.axes == (in_rank - 2, in_rank - 1) and tuple(out_shape[-2:]) == tuple(in_shape[-2:]) and out_rank >= 3:
        return _State(state.field, (out_rank - 2, out_rank - 1))
    if all(in_shape[a] == 1 for a in state.axes):
        return _State(state.field, None)
    return _lost(state.field)


def _split(state: _State, rank, dim: int) -> _State:
    if state.axes and rank is not None and dim % rank in state.axes:
        return _lost(state.field)
    return state


def _getitem(node, state: _State, in_shape) -> _State:
    if isinstance(in_shape, list):
        return state  # one output of chunk/split
    if state.axes is None:
        return state  # e.g. ViT's class token x[:, 0]
    index = node.args[1]
    index = index if isinstance(index, tuple) else (index,)
    # Plain "take everything" slices on the spatial axes keep the layout; anything else is
    # cropping or picking positions, which we do not follow.
    touched = [i for i, item in enumerate(index) if not (isinstance(item, slice) and item == slice(None))]
    if any(i in state.axes for i in touched) or Ellipsis in index:
        return _lost(state.field)
    return state


def truncate(network: nn.Module, layer: str) -> fx.GraphModule:
    """``network`` up to and including the node named ``layer``: a GraphModule sharing the
    original's submodules (no copy, no hooks on the original)."""
    traced, qualname = trace(network)
    by_name = {name: node for node, name in qualname.items()}
    if layer not in by_name:
        raise KeyError(f"no layer named {layer!r}")
    graph = traced.graph
    output = next(n for n in graph.nodes if n.op == "output")
    output.args = (by_name[layer],)
    graph.eliminate_dead_code()
    traced.recompile()
    return traced


def gradient_fields(network: nn.Module, layer: str, units: list[tuple[int, int]], input_size: tuple[int, int] = (224, 224),
                    image: torch.Tensor | None = None) -> list[torch.Tensor]:
    """|∂ unit / ∂ input|, summed over channels, for each (row, col) in ``units``: which input
    pixels the unit actually depends on (the empirical receptive field; with trained weights,
    the *effective* one).

    ``image`` is a normalised (1, 3, H, W) input; without one a constant is used. One trace and
    one forward pass serve all units. Runs on the device of the network's parameters.
    """
    parameter = next(network.parameters())
    partial = truncate(network, layer).eval()
    if image is None:
        image = torch.full((1, 3, *input_size), 0.1, dtype=parameter.dtype)
    x = image.detach().to(parameter.device).clone().requires_grad_(True)
    grads = []
    with torch.enable_grad():
        out = partial(x)
        for index, (row, col) in enumerate(units):
            # autograd.grad, not backward(): the network may be shared and must not collect .grad.
            (grad,) = torch.autograd.grad(out[0, :, row, col].sum(), x, retain_graph=index < len(units) - 1)
            grads.append(grad[0].abs().sum(0).detach())
    return grads


def gradient_field(network: nn.Module, layer: str, row: int, col: int, input_size: tuple[int, int] = (224, 224),
                   image: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`gradient_fields` for one unit."""
    return gradient_fields(network, layer, [(row, col)], input_size, image)[0]
