"""Network graphs for the methods that need to see inside a model: ``torch.fx`` traces, rewritten.

Two clients:

* fast occlusion (:mod:`cvdemo.explain.occlusion`) needs to know which part of the network is
  *local* — convolutions, pooling, pointwise activations, residual adds — and exactly which input
  pixels each feature-map position depends on (its window), and to cut the graph into pieces at
  points where a single tensor carries everything forward;
* LRP (:mod:`cvdemo.explain.lrp`) needs a canonical form: BatchNorm folded into the convolution
  before it, every residual ``+`` an explicit module a rule can be attached to, and no module
  called twice in one forward pass (hooks keep per-call state).

Tracing and the per-op window rules are :mod:`cvdemo.fx_geometry`'s, shared with the architecture
explorer. A module written with Python control flow on tensor values cannot be traced; callers
catch :class:`GraphError` and fall back to a method that treats the model as a black box.
"""

from __future__ import annotations

import copy
import math
import operator
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from cvdemo import fx_geometry
from cvdemo.fx_geometry import INPUT_FIELD, FieldState, GraphError, ReceptiveField, Step
from cvdemo.geometry import pair

# Subclasses of these (e.g. a convolution with TensorFlow's SAME padding computed from the input
# size) stay single leaf calls in the trace instead of being traced into their Python.
LEAF_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU,
    nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Hardtanh,
)


def disable_inplace(module: nn.Module) -> None:
    """Turn ``inplace=True`` activations off in a private copy: pieces of the graph are re-run on
    cached feature maps (occlusion) and rules read stored inputs (LRP), which an in-place
    activation would overwrite."""
    for child in module.modules():
        if getattr(child, "inplace", False) is True:
            vars(child)["inplace"] = False  # a plain flag, which nn.Module's __setattr__ is not typed for


def trace(module: nn.Module) -> fx.GraphModule:
    """The graph of ``module`` (with its in-place activations turned off), torch's layers and
    :data:`LEAF_TYPES` as single calls; :class:`GraphError` when it cannot be traced."""
    disable_inplace(module)
    return fx_geometry.trace(module, LEAF_TYPES)[0]


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
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    folded = 0
    for node in list(gm.graph.nodes):
        norm = modules.get(str(node.target)) if node.op == "call_module" else None
        if not isinstance(norm, nn.modules.batchnorm._BatchNorm):
            continue
        producer = node.args[0]
        if not isinstance(producer, fx.Node) or producer.op != "call_module" or len(producer.users) != 1:
            continue
        layer = modules.get(str(producer.target))
        if calls.get(str(producer.target), 0) != 1 or calls.get(str(node.target), 0) != 1 or norm.training:
            continue
        if not norm.track_running_stats or norm.running_mean is None:
            continue
        fused: nn.Module
        # Exact classes only: a subclass may compute something else in forward (SAME padding, say).
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and type(layer) in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
            fused = torch.nn.utils.fusion.fuse_conv_bn_eval(layer.eval(), norm)
        elif isinstance(layer, nn.Linear) and type(layer) is nn.Linear and isinstance(norm, nn.BatchNorm1d):
            fused = torch.nn.utils.fusion.fuse_linear_bn_eval(layer.eval(), norm)
        else:
            continue
        set_submodule(gm, str(producer.target), fused)
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


def _is_channel_constant(node: fx.Node, gm: fx.GraphModule) -> bool:
    """A parameter/buffer broadcast per channel (shape (C, 1, 1) or smaller) keeps ops translation-invariant."""
    try:
        value = operator.attrgetter(str(node.target))(gm)
    except AttributeError:
        return False
    return isinstance(value, torch.Tensor) and (value.ndim < 2 or value.shape[-1] == value.shape[-2] == 1)


def _constant_shape_ok(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "get_attr":
        return _is_channel_constant(node, gm)
    shape = spatial_shape(node)
    return shape is not None and (len(shape) < 2 or shape[-1] == shape[-2] == 1)


def layer_window(node: fx.Node, gm: fx.GraphModule, windows: dict[fx.Node, ReceptiveField | None],
                 constants: set[fx.Node] | None = None) -> ReceptiveField | None:
    """The window of ``node`` given its inputs' windows, or None if the op is not local.

    Local means: translation-equivariant with a finite window, so that computing it on a crop of
    its input gives the same values wherever the crop holds the whole window (the rules of
    :mod:`cvdemo.fx_geometry` marked ``crop_exact``). Global pooling, flattening, reshapes,
    resizing and anything unknown are not. Needs ``tensor_meta`` from ShapeProp.
    """
    constants = constants or set()
    states: list[FieldState] = []
    shapes: list[tuple[int, ...] | None] = []
    for arg in node.all_input_nodes:
        if arg.op == "get_attr" or arg in constants:
            if not _constant_shape_ok(arg, gm):
                return None
            continue
        window = windows.get(arg)
        shape = spatial_shape(arg)
        if window is None or shape is None:
            return None
        states.append(FieldState(window, (len(shape) - 2, len(shape) - 1)))
        shapes.append(shape)
    if node.op not in ("call_module", "call_function", "call_method") or not states:
        return None
    module = gm.get_submodule(str(node.target)) if node.op == "call_module" else None
    if module is not None and len(states) != 1:
        return None
    state = fx_geometry.propagate(Step(node, module, states, shapes, spatial_shape(node), crop_exact=True))
    if state is None or not state.field.is_local or state.field.gated:
        return None
    return state.field


def windows_from(gm: fx.GraphModule, start: fx.Node) -> dict[fx.Node, ReceptiveField | None]:
    """Windows of every node after ``start``, relative to ``start``'s output (None: not local).

    Needs ``tensor_meta`` from :class:`torch.fx.passes.shape_prop.ShapeProp`.
    """
    windows: dict[fx.Node, ReceptiveField | None] = {start: INPUT_FIELD}
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
        copied = env[node] = graph.node_copy(node, lookup)
        if node is end:
            result = copied
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
