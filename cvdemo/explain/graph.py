"""Network graphs for the methods that need to see inside a model: ``torch.fx`` traces, rewritten.

Two clients:

* fast occlusion (:mod:`cvdemo.explain.occlusion`) needs to know which part of the network is
  *local* — convolutions, pooling, pointwise activations, residual adds — and exactly which input
  pixels each feature-map position depends on (its window), and to cut the graph into pieces at
  points where a single tensor carries everything forward;
* LRP (:mod:`cvdemo.explain.lrp`) needs a canonical form: BatchNorm folded into the convolution
  before it, every residual ``+`` an explicit module a rule can be attached to, and no module
  called twice in one forward pass (hooks keep per-call state).

A module written with Python control flow on tensor values cannot be traced; callers catch
:class:`GraphError` and fall back to a method that treats the model as a black box.
"""

from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from cvdemo.geometry import pair


class GraphError(RuntimeError):
    """The model cannot be traced or rewritten; the message says why."""


class _OneInput(nn.Module):
    """``forward(x)`` around a module whose own signature fx cannot trace (``forward(self, *inputs)``)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


# Subclasses of these (e.g. a convolution with TensorFlow's SAME padding computed from the input
# size) stay single leaf calls in the trace instead of being traced into their Python.
LEAF_TYPES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU,
    nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Hardtanh,
)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return super().is_leaf_module(m, module_qualified_name) or isinstance(m, LEAF_TYPES)


def _symbolic_trace(module: nn.Module) -> fx.GraphModule:
    graph = _Tracer().trace(module)
    return fx.GraphModule(module, graph, module.__class__.__name__)


def disable_inplace(module: nn.Module) -> None:
    """Turn ``inplace=True`` activations off in a private copy: pieces of the graph are re-run on
    cached feature maps (occlusion) and rules read stored inputs (LRP), which an in-place
    activation would overwrite."""
    for child in module.modules():
        if getattr(child, "inplace", False) is True:
            child.inplace = False


def trace(module: nn.Module) -> fx.GraphModule:
    disable_inplace(module)
    try:
        return _symbolic_trace(module)
    except Exception as first:  # fx raises many kinds (TraceError, TypeError, NotImplementedError…)
        try:
            return _symbolic_trace(_OneInput(module))
        except Exception:
            raise GraphError(f"cannot trace {type(module).__name__} with torch.fx "
                             f"({first.__class__.__name__}: {first})") from None


def set_submodule(root: nn.Module, qualified_name: str, module: nn.Module) -> None:
    parent_name, _, leaf = qualified_name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, module)


def fold_batchnorm(gm: fx.GraphModule) -> int:
    """Fold each eval-mode BatchNorm that directly follows a convolution or linear layer into it.

    Exact up to float rounding: BN in eval mode is an affine map per channel. Returns how many
    were folded. The convolution must feed nothing else (otherwise the other consumer would see
    normalised values).
    """
    modules = dict(gm.named_modules())
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.modules.batchnorm._BatchNorm):
            continue
        producer = node.args[0]
        if not isinstance(producer, fx.Node) or producer.op != "call_module" or len(producer.users) != 1:
            continue
        layer = modules.get(producer.target)
        norm = modules[node.target]
        if calls.get(producer.target, 0) != 1 or calls.get(node.target, 0) != 1 or norm.training:
            continue
        if not norm.track_running_stats or norm.running_mean is None:
            continue
        if type(layer) in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
            fused = torch.nn.utils.fusion.fuse_conv_bn_eval(layer.eval(), norm)
        elif type(layer) is nn.Linear and isinstance(norm, nn.BatchNorm1d):
            fused = torch.nn.utils.fusion.fuse_linear_bn_eval(layer.eval(), norm)
        else:
            continue
        set_submodule(gm, producer.target, fused)
        node.replace_all_uses_with(producer)
        gm.graph.erase_node(node)
        folded += 1
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return folded


def unshare_modules(gm: fx.GraphModule) -> int:
    """Give every call of a module that runs more than once in a forward pass its own copy.

    (torchvision's ResNet blocks call one ``self.relu`` twice; hooks that remember the input of
    "their" call would mix the two up.)
    """
    seen: set[str] = set()
    copies = 0
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        if node.target in seen:
            original = gm.get_submodule(node.target)
            new_name = f"{node.target}_call{copies}"
            set_submodule(gm, new_name, copy.deepcopy(original))
            node.target = new_name
            copies += 1
        else:
            seen.add(node.target)
    gm.recompile()
    return copies


# ---------------------------------------------------------------------------------------------
# Locality: which feature-map positions depend on which input pixels


@dataclass(frozen=True)
class Window:
    """Output position ``j`` of a local layer reads input rows ``[j*stride - pad, j*stride - pad + field)``.

    Per dimension (rows, columns), in the pixels of the reference tensor (the network input, or
    the input of a graph piece). ``pad`` counts the zero rows before the first input row.
    """

    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    field: tuple[int, int] = (1, 1)

    def then(self, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> "Window":
        """The window after one more layer with this kernel, stride, padding before and dilation."""
        return Window(
            tuple(s * t for s, t in zip(self.stride, stride)),
            tuple(p + q * s for p, q, s in zip(self.pad, pad, self.stride)),
            tuple(f + d * (k - 1) * s for f, d, k, s in zip(self.field, dilation, kernel, self.stride)),
        )

    @staticmethod
    def union(windows: list["Window"]) -> "Window | None":
        """Elementwise ops (``+``, ``*``, concatenation) read the union of their inputs' windows."""
        if not windows:
            return None
        stride = windows[0].stride
        if any(w.stride != stride for w in windows):
            return None
        pad = tuple(max(w.pad[d] for w in windows) for d in range(2))
        end = tuple(max(w.field[d] - w.pad[d] for w in windows) for d in range(2))
        return Window(stride, pad, tuple(e + p for e, p in zip(end, pad)))

    def affected(self, start: int, stop: int, size: int, dim: int) -> tuple[int, int]:
        """Output positions (half-open range, clipped to ``size``) whose window meets input ``[start, stop)``."""
        s, p, f = self.stride[dim], self.pad[dim], self.field[dim]
        low = math.floor((start + p - f) / s) + 1
        high = math.ceil((stop + p) / s)
        return max(0, low), min(size, max(high, low + 1))


POINTWISE_MODULES = (
    nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardswish, nn.Hardsigmoid,
    nn.SiLU, nn.GELU, nn.ELU, nn.SELU, nn.CELU, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Softplus, nn.Mish,
    nn.Identity, nn.Dropout, nn.Dropout2d, nn.AlphaDropout,
)
POINTWISE_FUNCTIONS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.imul, operator.neg,
    torch.add, torch.sub, torch.mul, torch.div, torch.relu, torch.sigmoid, torch.tanh, torch.clamp,
    torch.neg, torch.abs, F.relu, F.relu6, F.leaky_relu, F.hardswish, F.hardsigmoid, F.silu, F.gelu, F.elu,
    F.hardtanh, F.sigmoid, F.tanh, F.dropout, F.mish, F.softplus,
}
POINTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "tanh", "clamp", "clamp_", "clamp_min", "clamp_max", "add", "add_", "mul",
    "mul_", "sub", "div", "neg", "abs", "contiguous", "float", "half", "to",
}


def _pad_before(module: nn.Module, kernel, stride, dilation) -> tuple[int, int]:
    """Zero rows/columns before the first input row.

    Read from the attributes for PyTorch's own classes; *measured* for subclasses that compute
    their padding in ``forward`` (TensorFlow's SAME, say), which attributes do not describe.
    """
    if type(module) in (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d):
        if isinstance(module.padding, str):
            return (0, 0) if module.padding == "valid" else tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel))
        return pair(module.padding)
    measured = _measure_pad(module, kernel, stride, dilation, 0)
    if measured is None:
        raise GraphError(f"cannot tell how {type(module).__name__} pads its input")
    if any(s > 1 for s in stride) and _measure_pad(module, kernel, stride, dilation, 1) != measured:
        # TensorFlow's SAME with stride 2 pads differently for odd and even sizes: a crop could
        # change the parity of this layer's input, so the layer cannot be run on crops.
        raise GraphError(f"{type(module).__name__}'s padding depends on its input size")
    return measured


def _measure_pad(module: nn.Module, kernel, stride, dilation, offset: int) -> tuple[int, int] | None:
    """Find P such that output j reads rows [j·s − P, j·s − P + k_eff), from impulse responses.

    A copy with all-ones weights and no bias is fed a single lit row (then column); the outputs
    that light up are exactly those whose window holds it (max and average pooling behave the
    same on a non-negative impulse). Input sizes are multiples of the stride, as the occlusion
    planner's crops are, because TensorFlow's SAME padding depends on that.
    """
    probe = copy.deepcopy(module).float().cpu().eval()
    channels = 1
    if getattr(probe, "weight", None) is not None:
        with torch.no_grad():
            probe.weight.fill_(1.0)
            if getattr(probe, "bias", None) is not None:
                probe.bias.zero_()
        channels = probe.in_channels
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
    return tuple(result)


def _is_channel_constant(node: fx.Node, gm: fx.GraphModule) -> bool:
    """A parameter/buffer broadcast per channel (shape (C, 1, 1) or smaller) keeps ops translation-invariant."""
    try:
        value = operator.attrgetter(node.target)(gm)
    except AttributeError:
        return False
    return isinstance(value, torch.Tensor) and (value.ndim < 2 or value.shape[-1] == value.shape[-2] == 1)


def _constant_shape_ok(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "get_attr":
        return _is_channel_constant(node, gm)
    shape = spatial_shape(node)
    return shape is not None and (len(shape) < 2 or shape[-1] == shape[-2] == 1)


def layer_window(node: fx.Node, gm: fx.GraphModule, windows: dict[fx.Node, Window | None],
                 constants: set[fx.Node] | None = None) -> Window | None:
    """The window of ``node`` given its inputs' windows, or None if the op is not local.

    Local means: translation-equivariant with a finite window, so that computing it on a crop of
    its input gives the same values wherever the crop holds the whole window. Global pooling,
    flattening, reshapes, resizing and anything unknown are not.
    """
    tensor_args = [a for a in node.all_input_nodes]
    inputs: list[Window] = []
    constants = constants or set()
    for arg in tensor_args:
        if arg.op == "get_attr" or arg in constants:
            if not _constant_shape_ok(arg, gm):
                return None
            continue
        window = windows.get(arg)
        if window is None:
            return None
        inputs.append(window)
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        if len(inputs) != 1:
            return None
        (window,) = inputs
        if isinstance(module, nn.Conv2d):
            kernel, stride, dilation = pair(module.kernel_size), pair(module.stride), pair(module.dilation)
            try:
                return window.then(kernel, stride, _pad_before(module, kernel, stride, dilation), dilation)
            except GraphError:
                return None
        if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            if module.ceil_mode:
                return None  # the last window's existence depends on the input size
            kernel = pair(module.kernel_size)
            stride = pair(module.stride if module.stride is not None else module.kernel_size)
            dilation = pair(getattr(module, "dilation", 1))
            try:
                return window.then(kernel, stride, _pad_before(module, kernel, stride, dilation), dilation)
            except GraphError:
                return None
        if isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)):
            left, _right, top, _bottom = module.padding
            return window.then((1, 1), (1, 1), (top, left))
        if isinstance(module, POINTWISE_MODULES):
            return window
        return None
    if node.op == "call_function":
        if node.target in POINTWISE_FUNCTIONS:
            return Window.union(inputs)
        if node.target is F.pad:
            pads = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
            mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
            if mode != "constant" or not isinstance(pads, (tuple, list)) or len(pads) < 4 \
                    or not all(isinstance(p, int) for p in pads) or len(inputs) != 1:
                return None
            return inputs[0].then((1, 1), (1, 1), (pads[2], pads[0]))
        if node.target is torch.cat:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            return Window.union(inputs) if dim in (1, -3) else None
        return None
    if node.op == "call_method":
        if node.target in POINTWISE_METHODS:
            return Window.union(inputs)
        return None
    return None


def windows_from(gm: fx.GraphModule, start: fx.Node) -> dict[fx.Node, Window | None]:
    """Windows of every node after ``start``, relative to ``start``'s output (None: not local)."""
    windows: dict[fx.Node, Window | None] = {start: Window()}
    constants: set[fx.Node] = set()  # parameters/buffers and what is computed from them alone
    active = False
    for node in gm.graph.nodes:
        if node.op == "get_attr" or (node.op in ("call_function", "call_method") and node.all_input_nodes
                                     and all(n in constants for n in node.all_input_nodes)):
            constants.add(node)
            windows[node] = None
            continue
        if node is start:
            active = True
            continue
        if not active:
            # Nodes before the start are outside the piece: only constants may be read from there.
            windows[node] = None
            continue
        if node.op in ("placeholder", "output"):
            windows[node] = None
            continue
        windows[node] = layer_window(node, gm, windows, constants)
    return windows


def constant_nodes(gm: fx.GraphModule) -> set[fx.Node]:
    """Parameters/buffers and nodes computed from them alone (``self.gamma.view(1, -1, 1, 1)``)."""
    constants: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op == "get_attr" or (node.op in ("call_function", "call_method") and node.all_input_nodes
                                     and all(n in constants for n in node.all_input_nodes)):
            constants.add(node)
    return constants


def cut_points(gm: fx.GraphModule) -> list[fx.Node]:
    """Nodes through which everything flows: nothing computed before them is used after them.

    Cutting the graph there leaves a single tensor to hand from one piece to the next.
    """
    nodes = [n for n in gm.graph.nodes]
    constants = constant_nodes(gm)
    position = {node: index for index, node in enumerate(nodes)}
    last_use = {}
    for node in nodes:
        if node in constants:
            continue  # constants can be recomputed by any piece
        last_use[node] = max((position[user] for user in node.users), default=position[node])
    cuts = []
    reach = -1
    for index, node in enumerate(nodes):
        if node.op == "output" or node in constants:
            continue
        if node.op != "placeholder" and reach <= index:
            cuts.append(node)
        reach = max(reach, last_use[node])
    return cuts


def subgraph(gm: fx.GraphModule, start: fx.Node, end: fx.Node | None) -> fx.GraphModule:
    """The piece of ``gm`` that maps ``start``'s output to ``end``'s (None: to the model's output)."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {start: graph.placeholder("x")}
    constants = constant_nodes(gm)

    def lookup(node: fx.Node) -> fx.Node:
        if node not in env:
            if node not in constants:
                raise GraphError(f"{node.name} is needed after the cut but computed before it")
            env[node] = graph.node_copy(node, lookup)  # recomputed from parameters inside the piece
        return env[node]

    active = False
    result: Any = None
    for node in gm.graph.nodes:
        if node is start:
            active = True
            continue
        if not active or node in constants:
            continue
        if node.op == "output":
            result = fx.map_arg(node.args[0], lookup)
            break
        env[node] = graph.node_copy(node, lookup)
        if node is end:
            result = env[node]
            break
    graph.output(result)
    piece = fx.GraphModule(gm, graph)
    piece.graph.eliminate_dead_code()
    piece.recompile()
    return piece


def node_costs(gm: fx.GraphModule, memory_traffic: bool = True) -> dict[fx.Node, float]:
    """Rough per-item cost of each node: multiply-adds, plus (``memory_traffic``) reading and
    writing every element, which is what pointwise ops cost.

    Needs ``tensor_meta`` from :class:`torch.fx.passes.shape_prop.ShapeProp`.
    """
    costs: dict[fx.Node, float] = {}
    for node in gm.graph.nodes:
        meta = node.meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        if shape is None:
            costs[node] = 0.0
            continue
        per_item = float(math.prod(shape[1:])) if len(shape) > 1 else float(math.prod(shape))
        cost = 2.0 * per_item if memory_traffic else 0.0
        if node.op == "call_module":
            module = gm.get_submodule(node.target)
            if isinstance(module, nn.Conv2d):
                cost += per_item * (module.in_channels // module.groups) * math.prod(pair(module.kernel_size))
            elif isinstance(module, nn.Linear):
                cost += per_item * module.in_features
        costs[node] = cost
    return costs


def spatial_shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(shape) if shape is not None else None
