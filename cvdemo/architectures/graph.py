"""A network as a list of layers: output shape, MACs, depth and receptive field of each.

The network is traced with torch.fx (with torchvision's feature-extraction tracer, so node
names are the modules' qualified names, e.g. ``layer1.0.conv1``) and run once on the meta
device: shapes and operation counts come out without any weights or arithmetic.

Receptive fields are computed analytically through the graph by the rules of
:mod:`cvdemo.fx_geometry` (its docstring gives the algebra): where branches meet (residual add,
Inception concat) the field is the union of the branches' fields; anything that mixes all
positions (global pooling, a dense layer on the flattened map, squeeze-and-excitation gates,
self-attention) makes the field global.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

from cvdemo import fx_geometry
from cvdemo.fx_geometry import CONSTANT, INPUT_FIELD, FieldState, ReceptiveField, Step
from cvdemo.geometry import pair

WEIGHTED_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


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
        size = jump = start = ""
        if rf.is_local:
            rows, cols = rf.axes()
            size = "×".join(f"{s:g}" for s in sorted({rows.size, cols.size}, reverse=True))
            jump = "×".join(f"{s:g}" for s in sorted({rows.jump, cols.jump}, reverse=True))
            start = f"{rows.start:g}, {cols.start:g}"
        return {
            "layer": self.name,
            "op": self.op,
            "detail": self.detail,
            "output": "×".join(str(s) for s in self.shape) if self.shape else "",
            "depth": self.depth,
            "params": self.params,
            "MACs": self.macs,
            "RF size": size if rf.is_local else rf.describe(),
            "jump": jump,
            "start": start,
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
            return isinstance(self.module.get_submodule(str(node.target)), (*WEIGHTED_MODULES, nn.MultiheadAttention))
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

    Node names are the module paths (``layer1.0.conv1``, ``layer1.0.add``); unlike torchvision's
    ``create_feature_extractor`` default, torchvision's own building blocks (Conv2dNormActivation,
    SqueezeExcitation, …) are traced *through*, so that every convolution is a node.
    """
    was_training = network.training
    network.eval()
    try:
        return fx_geometry.trace(network)
    finally:
        network.train(was_training)


def analyse(network: nn.Module, input_size: tuple[int, int] = (224, 224), name: str = "") -> LayerGraph:
    """Describe every node of ``network`` (any device; analysed on a weightless meta copy)."""
    network = to_meta(network).eval()
    traced, qualname = trace(network)
    recorder = _Recorder(traced)
    with torch.no_grad():
        dtype = next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)
        recorder.run(torch.zeros(1, 3, *input_size, device="meta", dtype=dtype))

    states: dict[fx.Node, FieldState | None] = {}
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
    return LayerGraph(name or type(network).__name__, (input_size[0], input_size[1]), layers, traced)


def _get_attr(module: nn.Module, target: str):
    obj = module
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def to_meta(network: nn.Module) -> nn.Module:
    """A structural copy on the meta device, so that analysing a loaded (shared) model neither
    copies its weights nor modifies it."""
    if all(p.device.type == "meta" for p in network.parameters()):
        return network
    memo: dict[int, Any] = {}
    for tensor in list(network.parameters()) + list(network.buffers()):
        meta = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = nn.Parameter(meta, requires_grad=tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(network, memo)


def _propagate(node: fx.Node, module: nn.Module | None, inputs: list[fx.Node],
               states: dict[fx.Node, FieldState | None], shapes: dict[fx.Node, Any]) -> FieldState | None:
    if node.op == "placeholder":
        return FieldState(INPUT_FIELD, (2, 3))
    dependent = [(state, shapes.get(n)) for n in inputs if (state := states.get(n)) is not None]
    if node.op == "get_attr" or not dependent:
        return None  # a constant or a shape: it does not depend on the image content
    return fx_geometry.propagate(Step(node, module, [state for state, _ in dependent],
                                      [shape for _, shape in dependent], shapes.get(node)))


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
