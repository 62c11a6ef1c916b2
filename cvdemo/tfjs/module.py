"""Turn a TF.js graph into a real ``torch.nn.Module`` (a ``torch.fx.GraphModule``).

How the translation works:

* **Layouts.** TensorFlow graphs compute in NHWC; torch convolutions want NCHW. Every value
  carries a *layout*: a permutation ``q`` with ``physical = logical.permute(q)``. A TF NHWC
  activation is stored as NCHW (``q = (0, 3, 1, 2)``), so convolutions see torch's layout with no
  copies, and ops that name axes (``ConcatV2``, ``Mean``, ``Pad``, ``SplitV``, ``Softmax``) map
  their logical axes through ``q``. A ``Transpose`` only changes ``q``: the ONNX→TF graphs
  (NanoDet) that transpose around every convolution cost nothing. Ops that need the logical
  order (``Reshape``, ``MatMul``, slicing) permute first.
* **Batch.** Graphs exported at batch 1 have that 1 baked into their ``Reshape`` targets; the
  leading 1 of a reshaped activation becomes "the input's batch", so every converted graph takes
  any batch size.
* **Weights** become real layers: ``nn.Conv2d`` (depthwise as ``groups=in``),
  ``nn.ConvTranspose2d``, ``nn.Linear``, activation modules, so LRP rules (zennit) and layer
  hooks (captum) find them. Filters are transposed to torch's layout once, at load time; a
  constant bias added right after a convolution is folded into the layer's bias, and a zero
  ``Pad`` feeding a ``VALID`` convolution (or a -inf one feeding a max-pool) into its padding.
  MobileNetV3's hard-swish / hard-sigmoid sub-graphs (``x * relu6(x + 3) * 1/6``, four
  elementwise passes) become one ``F.hardswish`` / ``F.hardsigmoid`` pass times the graph's own
  float16-stored 1/6 (0.16663) × 6, so the numbers stay the graph's.
* **Constants** that only feed shape arithmetic (NanoDet's ``SparseToDense`` of zeros, reshape
  targets) are folded while building, so the generated forward has none of it.
* **Caching.** :func:`load_graph_module` converts once and keeps the torch state dict (plus the
  few integer constants the structure depends on) under ``weights/converted/``; later starts
  build the module on the ``meta`` device and load that state dict, without reading the shards.

Unknown ops raise :class:`~cvdemo.tfjs.ops.UnsupportedOpError` naming the op and node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from cvdemo.tfjs import ops
from cvdemo.tfjs.graph import TFGraph, TFNode, canonical_ref, constant_values, read_model_json, read_weights, shard_paths, split_ref
from cvdemo.tfjs.ops import UnsupportedOpError

# Bump when the translation changes, so cached conversions are rebuilt.
CONVERTER_VERSION = 5

NHWC = (0, 3, 1, 2)  # logical NHWC stored as NCHW


class GraphBuildError(ValueError):
    """The graph is malformed or uses an op in a way the loader cannot translate."""


class _CacheMiss(LookupError):
    """A cached conversion lacks a value the build needs: convert afresh."""


def _identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inverse = [0] * len(perm)
    for position, axis in enumerate(perm):
        inverse[axis] = position
    return tuple(inverse)


@dataclass
class Value:
    """A graph value while building: an fx node (runtime) or a tensor (a folded constant)."""

    data: Any
    layout: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.layout)

    @property
    def is_constant(self) -> bool:
        return isinstance(self.data, torch.Tensor)


class ConstantStore:
    """Graph constants as torch tensors (floats float32, integers int64).

    In conversion mode every value is real. In cached mode only the integer constants and the
    values the structure was seen to depend on are real; float weights are ``meta`` tensors of the
    right shape, to be replaced by the cached state dict.
    """

    def __init__(self, graph: TFGraph, values: dict[str, np.ndarray] | None = None,
                 cached: dict[str, torch.Tensor] | None = None):
        self.graph = graph
        self._values = values
        self._cached = cached
        self.required: dict[str, torch.Tensor] = {}

    def _convert(self, array: np.ndarray) -> torch.Tensor:
        dtype = ops.numpy_dtype_to_torch(array.dtype)
        # np.array, not np.ascontiguousarray: the latter turns 0-d scalars into shape (1,)
        return torch.from_numpy(np.array(array, copy=True, order="C")).to(dtype)

    def _declared_float(self, name: str) -> bool:
        declared = self.graph.nodes[name].attr("dtype", "DT_FLOAT")
        return declared in ("DT_FLOAT", "DT_HALF", "DT_DOUBLE")

    def tensor(self, name: str) -> torch.Tensor:
        if self._values is not None:
            tensor = self._convert(self._values[name])
            if not tensor.is_floating_point():
                self.required[name] = tensor
            return tensor
        assert self._cached is not None
        if name in self._cached:
            return self._cached[name]
        if not self._declared_float(name):
            raise _CacheMiss(name)
        return torch.empty(self.graph.constant_shape(name), dtype=torch.float32, device="meta")

    def concrete(self, name: str) -> torch.Tensor:
        tensor = self.tensor(name)
        if tensor.is_meta:
            raise _CacheMiss(name)
        self.required[name] = tensor
        return tensor


_NAME_PREFIXES = ("StatefulPartitionedCall/", "PartitionedCall/")


def _python_name(name: str) -> str:
    for prefix in _NAME_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", name).strip("_") or "node"
    return name if not name[0].isdigit() else f"n_{name}"


def _traced_at_batch_one(graph: TFGraph) -> bool:
    """Whether the graph's image inputs all have a static batch of 1 (an export traced with one image)."""
    shapes = [node.attr("shape") or graph.signature_inputs.get(name) or [] for name, node in graph.nodes.items()
              if node.op == "Placeholder"]
    images = [shape for shape in shapes if len(shape) == 4]
    return bool(images) and all(shape[0] == 1 for shape in images)


class GraphBuilder:
    """Lowers the TF nodes needed for ``outputs`` into an fx graph, one node at a time."""

    def __init__(self, graph: TFGraph, store: ConstantStore, outputs: list[str], input_formats: dict[str, str],
                 fuse: bool = True):
        self.graph = graph
        self.store = store
        self.outputs = [canonical_ref(ref) for ref in outputs]
        self.input_formats = input_formats
        self.fuse = fuse
        self.traced_at_batch_one = _traced_at_batch_one(graph)
        self.fx = fx.Graph()
        self.root = nn.Module()
        self.values: dict[str, Value] = {}
        self.aliases: dict[str, str] = {}  # node absorbed into its producer -> producer ref
        self._names: set[str] = set()
        self._buffers: dict[int, fx.Node] = {}
        self.order = self._topological_order()
        self.consumers: dict[str, list[str]] = {}
        for name in self.order:
            for ref in graph.nodes[name].inputs:
                self.consumers.setdefault(canonical_ref(ref), []).append(name)

    # ---------------------------------------------------------------- structure

    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        for ref in self.outputs:
            root = split_ref(ref)[0]
            if root not in self.graph.nodes:
                raise GraphBuildError(f"output {ref!r} is not a node of the graph")
            stack: list[tuple[str, bool]] = [(root, False)]
            while stack:
                name, expanded = stack.pop()
                if expanded:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise GraphBuildError(f"the graph has a cycle through {name}")
                state[name] = 1
                stack.append((name, True))
                node = self.graph.nodes.get(name)
                if node is None:
                    raise GraphBuildError(f"node {name} is referenced but not defined")
                for ref_in in reversed(node.inputs):
                    producer = split_ref(ref_in)[0]
                    if producer not in self.graph.nodes:
                        raise GraphBuildError(f"{name} reads {ref_in}, which is not in the graph")
                    if state.get(producer) != 2:
                        stack.append((producer, False))
        return order

    def unique_name(self, hint: str) -> str:
        base = _python_name(hint)
        name, counter = base, 1
        while name in self._names or hasattr(nn.Module, name):
            counter += 1
            name = f"{base}_{counter}"
        self._names.add(name)
        return name

    # ---------------------------------------------------------------- emitting

    def call(self, fn: Callable, *args, **kwargs):
        """``fn(*args)`` now when every argument is a constant, else an fx node."""
        if not _contains_node((args, kwargs)):
            return fn(*args, **kwargs)
        args = _map_tensors(args, self.buffer)
        kwargs = _map_tensors(kwargs, self.buffer)
        return self.fx.call_function(fn, tuple(args), kwargs)

    def buffer(self, tensor: torch.Tensor, hint: str = "const") -> fx.Node:
        existing = self._buffers.get(id(tensor))
        if existing is not None:
            return existing
        name = self.unique_name(f"const_{hint}")
        self.root.register_buffer(name, tensor)
        node = self.fx.get_attr(name)
        self._buffers[id(tensor)] = node
        return node

    def module(self, module: nn.Module, hint: str, *args):
        if not _contains_node(args):
            return module(*args)
        name = self.unique_name(hint)
        self.root.add_module(name, module)
        args = _map_tensors(args, self.buffer)
        return self.fx.call_module(name, tuple(args))

    def to_layout(self, value: Value, wanted: tuple[int, ...]):
        if value.layout == wanted:
            return value.data
        inverse = _inverse(value.layout)
        return self.call(torch.permute, value.data, tuple(inverse[axis] for axis in wanted))

    def logical(self, value: Value):
        return self.to_layout(value, _identity(value.rank))

    def broadcast(self, values: list[Value]) -> tuple[list[Any], tuple[int, ...]]:
        """Operands of an elementwise op in one physical layout, with NumPy broadcasting kept."""
        rank = max(v.rank for v in values)
        target = next((v.layout for v in values if v.rank == rank and v.layout != _identity(rank)), _identity(rank))
        result = []
        for value in values:
            if value.rank == rank:
                result.append(self.to_layout(value, target))
            elif value.rank == 0:
                result.append(value.data)
            else:
                data = self.logical(value)
                data = self.call(_unsqueeze_leading, data, rank - value.rank)
                result.append(self.to_layout(Value(data, _identity(rank)), target))
        return result, target

    # ---------------------------------------------------------------- inputs of a node

    def value(self, ref: str) -> Value:
        ref = canonical_ref(ref)
        if ref not in self.values:
            raise GraphBuildError(f"{ref} has no value yet (graph order?)")
        return self.values[ref]

    def input(self, node: TFNode, index: int) -> Value:
        return self.value(node.inputs[index])

    def concrete(self, node: TFNode, index: int) -> torch.Tensor:
        """An input that must be known while building (axes, shapes, paddings…)."""
        ref = canonical_ref(node.inputs[index])
        producer = self.graph.nodes[split_ref(ref)[0]]
        if producer.op == "Const":
            return self.store.concrete(producer.name)
        value = self.value(ref)
        if not value.is_constant:
            raise GraphBuildError(f"{node.op} {node.name}: input {index} ({ref}) must be a constant")
        if value.data.is_meta:
            raise _CacheMiss(ref)
        return self.to_layout(value, _identity(value.rank))

    def ints(self, node: TFNode, index: int) -> list[int]:
        return [int(v) for v in self.concrete(node, index).reshape(-1).tolist()]

    def weight(self, node: TFNode, index: int) -> torch.Tensor:
        ref = canonical_ref(node.inputs[index])
        producer = self.graph.nodes[split_ref(ref)[0]]
        if producer.op == "Const":
            return self.store.tensor(producer.name)
        value = self.value(ref)
        if not value.is_constant:
            raise GraphBuildError(f"{node.op} {node.name}: weights from a computed tensor ({ref}) are not supported")
        return self.to_layout(value, _identity(value.rank))

    def is_constant_ref(self, ref: str) -> bool:
        return self.graph.nodes[split_ref(canonical_ref(ref))[0]].op == "Const"

    def single_consumer(self, ref: str) -> TFNode | None:
        ref = canonical_ref(ref)
        if ref in self.outputs:
            return None
        names = self.consumers.get(ref, [])
        return self.graph.nodes[names[0]] if len(names) == 1 else None

    def producer(self, ref: str) -> TFNode:
        return self.graph.nodes[split_ref(canonical_ref(ref))[0]]

    # ---------------------------------------------------------------- the build

    def build(self) -> tuple[fx.GraphModule, list[str]]:
        for name in self.order:
            node = self.graph.nodes[name]
            if node.op == "Placeholder":
                shape = node.attr("shape") or self.graph.signature_inputs.get(name, [])
                rank = len(shape) if shape else 4
                layout = NHWC if rank == 4 and self.input_formats.get(name, "NHWC") == "NHWC" else _identity(rank)
                self.values[name] = Value(self.fx.placeholder(self.unique_name(name)), layout)
        for name in self.order:
            node = self.graph.nodes[name]
            if node.op == "Placeholder":
                continue
            if name in self.aliases:
                self.values[name] = self.value(self.aliases[name])
                continue
            if node.op == "Const":
                tensor = self.store.tensor(name)
                self.values[name] = Value(tensor, _identity(tensor.dim()))
                continue
            lower = LOWERINGS.get(node.op)
            if lower is None:
                raise UnsupportedOpError(f"TF op {node.op!r} (node {name}) is not supported by the TF.js loader")
            try:
                results = lower(self, node)
            except (UnsupportedOpError, GraphBuildError, _CacheMiss):
                raise
            except Exception as exc:  # name the node: a bare torch error would not say where
                raise GraphBuildError(f"cannot translate {node.op} {name}: {exc}") from exc
            for index, result in enumerate(results):
                self.values[name if index == 0 else f"{name}:{index}"] = result
        outputs, layouts = [], []
        for ref in self.outputs:
            value = self.value(ref)
            if value.rank == 4 and value.layout == NHWC:
                outputs.append(value.data)
                layouts.append("NCHW (NHWC in the graph)")
            else:
                outputs.append(self.logical(value))
                layouts.append("as in the graph")
        outputs = [self.buffer(o, "output") if isinstance(o, torch.Tensor) else o for o in outputs]
        self.fx.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
        self.fx.eliminate_dead_code(is_impure_node=lambda n: n.op in ("placeholder", "output"))
        self.fx.lint()
        module = fx.GraphModule(self.root, self.fx, class_name="TFJSGraphModule")
        return module, layouts


def _contains_node(tree) -> bool:
    if isinstance(tree, fx.Node):
        return True
    if isinstance(tree, (list, tuple)):
        return any(_contains_node(item) for item in tree)
    if isinstance(tree, dict):
        return any(_contains_node(item) for item in tree.values())
    return False


def _map_tensors(tree, fn):
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, tuple):
        return tuple(_map_tensors(item, fn) for item in tree)
    if isinstance(tree, list):
        return [_map_tensors(item, fn) for item in tree]
    if isinstance(tree, dict):
        return {key: _map_tensors(item, fn) for key, item in tree.items()}
    return tree


def _unsqueeze_leading(x: torch.Tensor, count: int) -> torch.Tensor:
    return x.reshape((1,) * count + tuple(x.shape))


# ==================================================================== lowerings

LOWERINGS: dict[str, Callable[[GraphBuilder, TFNode], list[Value]]] = {}


def lowering(*names: str):
    def register(fn):
        for name in names:
            LOWERINGS[name] = fn
        return fn

    return register


def _data_layout(node: TFNode) -> tuple[int, ...]:
    data_format = node.attr("data_format", "NHWC")
    if data_format == "NHWC":
        return NHWC
    if data_format == "NCHW":
        return _identity(4)
    raise UnsupportedOpError(f"{node.op} {node.name}: data_format {data_format!r}")


def _spatial(node: TFNode, key: str, default: int = 1) -> tuple[int, int]:
    values = node.attr(key) or [default] * 4
    if len(values) == 2:
        return int(values[0]), int(values[1])
    if node.attr("data_format", "NHWC") == "NCHW":
        return int(values[2]), int(values[3])
    return int(values[1]), int(values[2])


def _tf_padding(node: TFNode) -> str | tuple[int, int, int, int]:
    padding = node.attr("padding", "VALID")
    if padding in ("SAME", "VALID"):
        return padding
    if padding == "EXPLICIT":
        pads = node.attr("explicit_paddings") or []
        if node.attr("data_format", "NHWC") == "NCHW":
            return pads[4], pads[5], pads[6], pads[7]
        return pads[2], pads[3], pads[4], pads[5]
    raise UnsupportedOpError(f"{node.op} {node.name}: padding {padding!r}")


def _folded_pad(b: GraphBuilder, node: TFNode, layout: tuple[int, ...], pad_value: float):
    """A ``Pad`` that feeds only this layer (through transposes), as (unpadded input, (t, b, l, r))."""
    ref = canonical_ref(node.inputs[0])
    if not b.fuse or b.value(ref).layout != layout:
        return None
    current = ref
    while True:
        producer = b.producer(current)
        if b.single_consumer(current) is None:
            return None
        if producer.op in ("Identity", "Transpose"):
            current = canonical_ref(producer.inputs[0])
            continue
        break
    if producer.op not in ("Pad", "PadV2") or split_ref(current)[1] != 0:
        return None
    fill = 0.0
    if producer.op == "PadV2":
        if not b.is_constant_ref(producer.inputs[2]):
            return None
        fill = float(b.concrete(producer, 2).reshape(-1)[0])
    if fill != pad_value:
        return None
    pads = b.concrete(producer, 1).reshape(-1, 2).tolist()
    padded = b.value(current)
    if padded.rank != 4:
        return None
    physical = [pads[padded.layout[axis]] for axis in range(4)]
    if physical[0] != [0, 0] or physical[1] != [0, 0] or min(min(p) for p in physical) < 0:
        return None
    source = b.value(producer.inputs[0])
    if source.layout != padded.layout:
        return None
    return source.data, (physical[2][0], physical[2][1], physical[3][0], physical[3][1])


def _absorb_bias(b: GraphBuilder, node: TFNode, channels: int, layout: tuple[int, ...]) -> torch.Tensor | None:
    """A constant per-channel add right after a layer becomes the layer's bias."""
    if not b.fuse:
        return None
    consumer = b.single_consumer(node.name)
    if consumer is None or consumer.op not in ("Add", "AddV2", "BiasAdd"):
        return None
    others = [ref for ref in consumer.inputs if canonical_ref(ref) != node.name]
    if len(others) != 1 or not b.is_constant_ref(others[0]):
        return None
    shape = b.graph.constant_shape(b.producer(others[0]).name)
    logical_channel = layout[1] if len(layout) == 4 else len(layout) - 1  # the logical axis stored at NCHW's C
    if consumer.op == "BiasAdd":
        if tuple(shape) != (channels,) or _data_layout(consumer) != layout:
            return None
    else:
        rank = len(layout)
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        if len(shape) > rank or padded[logical_channel] != channels or any(d != 1 for i, d in enumerate(padded) if i != logical_channel):
            return None
    b.aliases[consumer.name] = node.name
    return b.weight(consumer, consumer.inputs.index(others[0])).reshape(-1)


_ACTIVATIONS: dict[str, Callable[[TFNode], nn.Module]] = {
    "Relu": lambda node: nn.ReLU(),
    "Relu6": lambda node: nn.ReLU6(),
    "Sigmoid": lambda node: nn.Sigmoid(),
    "Tanh": lambda node: nn.Tanh(),
    "Elu": lambda node: nn.ELU(),
    "Selu": lambda node: nn.SELU(),
    "Softplus": lambda node: nn.Softplus(),
    "LeakyRelu": lambda node: nn.LeakyReLU(float(node.attr("alpha", node.attr("leakyrelu_alpha", 0.2)))),
}


def _fused_tail(b: GraphBuilder, node: TFNode) -> tuple[torch.Tensor | None, nn.Module | None]:
    """The ``fused_ops`` of ``_FusedConv2D``: (bias, activation module or None)."""
    fused = list(node.attr("fused_ops") or [])
    bias = None
    activation: nn.Module | None = None
    if fused and fused[0] == "BiasAdd":
        bias = b.weight(node, 2).reshape(-1)
        fused = fused[1:]
    elif fused and fused[0] in ("FusedBatchNorm", "FusedBatchNormV3"):
        raise UnsupportedOpError(f"{node.op} {node.name}: fused batch norm (convert with BN folded)")
    if fused:
        kind = fused[0]
        if kind == "Prelu":
            alpha = b.weight(node, 2 + (1 if bias is not None else 0)).reshape(-1)
            activation = nn.PReLU(alpha.numel(), device="meta")
            activation.weight = nn.Parameter(alpha)
        elif kind in _ACTIVATIONS:
            activation = _ACTIVATIONS[kind](node)
        else:
            raise UnsupportedOpError(f"{node.op} {node.name}: fused activation {kind!r}")
        if len(fused) > 1:
            raise UnsupportedOpError(f"{node.op} {node.name}: fused ops {node.attr('fused_ops')}")
    return bias, activation


def _conv_common(b: GraphBuilder, node: TFNode, depthwise: bool) -> list[Value]:
    layout = _data_layout(node)
    stride = _spatial(node, "strides")
    dilation = _spatial(node, "dilations")
    padding = _tf_padding(node)
    filt = b.weight(node, 1)
    if filt.dim() != 4:
        raise GraphBuildError(f"{node.name}: filter of rank {filt.dim()}")
    kh, kw, in_channels, last = (int(d) for d in filt.shape)
    if depthwise:
        weight = ops.depthwise_weight_from_tf(filt)
        out_channels, groups = in_channels * last, in_channels
    else:
        weight = ops.conv_weight_from_tf(filt)
        out_channels, groups = last, 1
    folded = _folded_pad(b, node, layout, 0.0) if padding == "VALID" else None
    if folded is not None:
        x, extra = folded
        tf_padding: Any = "VALID"
    else:
        x, extra = b.to_layout(b.input(node, 0), layout), (0, 0, 0, 0)
        tf_padding = padding
    if isinstance(tf_padding, tuple):
        extra, tf_padding = tf_padding, "VALID"
    fused_bias, activation = (None, None)
    if node.op.startswith("_Fused") or node.op.startswith("Fused"):
        fused_bias, activation = _fused_tail(b, node)
    extra_bias = _absorb_bias(b, node, out_channels, layout) if activation is None else None
    bias = fused_bias
    if extra_bias is not None:
        bias = extra_bias if bias is None else bias + extra_bias
    conv = ops.TFConv2d(in_channels, out_channels, (kh, kw),
                        stride=stride, dilation=dilation, groups=groups, bias=bias is not None,
                        tf_padding=tf_padding, extra_pad=extra, device="meta")
    conv.weight = nn.Parameter(weight)
    if bias is not None:
        conv.bias = nn.Parameter(bias)
    y = b.module(conv, node.name, x)
    if activation is not None:
        y = b.module(activation, f"{node.name}_{type(activation).__name__.lower()}", y)
    return [Value(y, layout)]


@lowering("Conv2D", "_FusedConv2D")
def _lower_conv2d(b: GraphBuilder, node: TFNode) -> list[Value]:
    return _conv_common(b, node, depthwise=False)


@lowering("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")
def _lower_depthwise(b: GraphBuilder, node: TFNode) -> list[Value]:
    return _conv_common(b, node, depthwise=True)


@lowering("Conv2DBackpropInput")
def _lower_conv_transpose(b: GraphBuilder, node: TFNode) -> list[Value]:
    layout = _data_layout(node)
    padding = _tf_padding(node)
    if not isinstance(padding, str):
        raise UnsupportedOpError(f"{node.name}: Conv2DBackpropInput with explicit padding")
    sizes = b.ints(node, 0)
    output_size = (sizes[1], sizes[2]) if layout == NHWC else (sizes[2], sizes[3])
    filt = b.weight(node, 1)
    kh, kw, out_channels, in_channels = (int(d) for d in filt.shape)
    bias = _absorb_bias(b, node, out_channels, layout)
    layer = ops.TFConvTranspose2d(in_channels, out_channels, (kh, kw), stride=_spatial(node, "strides"),
                                  dilation=_spatial(node, "dilations"), bias=bias is not None, tf_padding=padding,
                                  output_size=output_size, device="meta")
    layer.weight = nn.Parameter(ops.conv_transpose_weight_from_tf(filt))
    if bias is not None:
        layer.bias = nn.Parameter(bias)
    x = b.to_layout(b.input(node, 2), layout)
    return [Value(b.module(layer, node.name, x), layout)]


@lowering("MatMul")
def _lower_matmul(b: GraphBuilder, node: TFNode) -> list[Value]:
    a, w = b.input(node, 0), b.input(node, 1)
    transpose_a, transpose_b = bool(node.attr("transpose_a", False)), bool(node.attr("transpose_b", False))
    if b.is_constant_ref(node.inputs[1]) and not transpose_a and a.rank == 2 and not a.is_constant:
        kernel = b.weight(node, 1)
        weight = kernel if transpose_b else kernel.transpose(0, 1)
        bias = _absorb_bias(b, node, int(weight.shape[0]), _identity(2))
        linear = nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias=bias is not None, device="meta")
        linear.weight = nn.Parameter(weight.contiguous())
        if bias is not None:
            linear.bias = nn.Parameter(bias)
        return [Value(b.module(linear, node.name, b.logical(a)), _identity(2))]
    y = b.call(ops.matmul, b.logical(a), b.logical(w), transpose_a, transpose_b)
    return [Value(y, _identity(max(a.rank, w.rank)))]


def _pool(b: GraphBuilder, node: TFNode, kind: str) -> list[Value]:
    layout = _data_layout(node)
    kernel, stride = _spatial(node, "ksize"), _spatial(node, "strides")
    padding = _tf_padding(node)
    if not isinstance(padding, str):
        raise UnsupportedOpError(f"{node.name}: pooling with explicit padding")
    if kind == "max":
        folded = _folded_pad(b, node, layout, float("-inf")) if padding == "VALID" else None
        x, extra = folded if folded is not None else (b.to_layout(b.input(node, 0), layout), (0, 0, 0, 0))
        layer: nn.Module = ops.TFMaxPool2d(kernel, stride, padding, extra)
    else:
        x = b.to_layout(b.input(node, 0), layout)
        layer = ops.TFAvgPool2d(kernel, stride, padding)
    return [Value(b.module(layer, node.name, x), layout)]


@lowering("MaxPool")
def _lower_maxpool(b: GraphBuilder, node: TFNode) -> list[Value]:
    return _pool(b, node, "max")


@lowering("AvgPool")
def _lower_avgpool(b: GraphBuilder, node: TFNode) -> list[Value]:
    return _pool(b, node, "avg")


@lowering("ResizeBilinear")
def _lower_resize(b: GraphBuilder, node: TFNode) -> list[Value]:
    x = b.to_layout(b.input(node, 0), NHWC)
    size = tuple(b.ints(node, 1))
    y = b.call(ops.resize_bilinear, x, size, bool(node.attr("align_corners", False)), bool(node.attr("half_pixel_centers", False)))
    return [Value(y, NHWC)]


def _hard_activation(b: GraphBuilder, node: TFNode) -> list[Value] | None:
    """``Mul(x * 1/6, relu6(x + 3))`` -> hardswish(x); ``Mul(1/6, relu6(x + 3))`` -> hardsigmoid(x)."""
    if not b.fuse or len(node.inputs) != 2:
        return None

    def scalar(ref: str) -> float | None:
        if not b.is_constant_ref(ref):
            return None
        tensor = b.store.concrete(b.producer(ref).name)
        return float(tensor.reshape(-1)[0]) if tensor.numel() == 1 else None

    def relu6_of_x_plus_3(ref: str) -> str | None:
        relu6 = b.producer(ref)
        if relu6.op != "Relu6" or b.single_consumer(ref) is None:
            return None
        add = b.producer(relu6.inputs[0])
        if add.op not in ("Add", "AddV2") or b.single_consumer(relu6.inputs[0]) is None:
            return None
        for i, j in ((0, 1), (1, 0)):
            if scalar(add.inputs[j]) == 3.0 and not b.is_constant_ref(add.inputs[i]):
                return canonical_ref(add.inputs[i])
        return None

    def sixth(ref: str) -> float | None:
        value = scalar(ref)
        return value if value is not None and abs(value - 1.0 / 6.0) < 2e-4 else None  # 1/6 as float16 is 0.16663

    for i, j in ((0, 1), (1, 0)):
        x_ref = relu6_of_x_plus_3(node.inputs[i])
        if x_ref is None:
            continue
        other = b.producer(node.inputs[j])
        scale = sixth(node.inputs[j])
        if scale is not None:
            value = b.value(x_ref)
            return [Value(b.module(ops.TFHardsigmoid(scale), f"{node.name}_hardsigmoid", value.data), value.layout)]
        if other.op == "Mul" and b.single_consumer(node.inputs[j]) is not None:
            refs = [canonical_ref(r) for r in other.inputs]
            if x_ref in refs:
                scale = sixth(refs[1 - refs.index(x_ref)])
                if scale is not None:
                    value = b.value(x_ref)
                    return [Value(b.module(ops.TFHardswish(scale), f"{node.name}_hardswish", value.data), value.layout)]
    return None


_BINARY: dict[str, Callable] = {
    "Add": torch.add,
    "AddV2": torch.add,
    "BiasAdd": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "RealDiv": ops.real_div,
    "Div": ops.real_div,
    "FloorDiv": ops.floor_div,
    "FloorMod": ops.floor_mod,
    "Maximum": torch.maximum,
    "Minimum": torch.minimum,
    "Pow": torch.pow,
    "Equal": torch.eq,
    "NotEqual": torch.ne,
    "Greater": torch.gt,
    "GreaterEqual": torch.ge,
    "Less": torch.lt,
    "LessEqual": torch.le,
    "LogicalAnd": torch.logical_and,
    "LogicalOr": torch.logical_or,
}


def _squared_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    difference = a - b
    return difference * difference


_BINARY["SquaredDifference"] = _squared_difference


def _lower_binary(b: GraphBuilder, node: TFNode) -> list[Value]:
    if node.op == "Mul":
        fused = _hard_activation(b, node)
        if fused is not None:
            return fused
    values = [b.input(node, 0), b.input(node, 1)]
    if node.op == "BiasAdd" and node.attr("data_format", "NHWC") == "NCHW" and values[0].rank >= 3:
        bias = values[1]
        # NCHW bias runs along axis 1: give it trailing unit axes so broadcasting aligns it there
        trailing = values[0].rank - 2
        values[1] = Value(b.call(torch.reshape, b.logical(bias), (-1,) + (1,) * trailing), _identity(1 + trailing))
    (x, y), layout = b.broadcast(values)
    return [Value(b.call(_BINARY[node.op], x, y), layout)]


for _op in _BINARY:
    LOWERINGS[_op] = _lower_binary


@lowering("AddN")
def _lower_add_n(b: GraphBuilder, node: TFNode) -> list[Value]:
    data, layout = b.broadcast([b.input(node, i) for i in range(len(node.inputs))])
    return [Value(b.call(ops.add_n, *data), layout)]


def _lower_activation(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    return [Value(b.module(_ACTIVATIONS[node.op](node), node.name, value.data), value.layout)]


for _op in _ACTIVATIONS:
    LOWERINGS[_op] = _lower_activation

_UNARY: dict[str, Callable] = {
    "Neg": torch.neg, "Abs": torch.abs, "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt,
    "Rsqrt": torch.rsqrt, "Square": torch.square, "Floor": torch.floor, "Ceil": torch.ceil, "Round": torch.round,
    "Reciprocal": torch.reciprocal, "LogicalNot": torch.logical_not, "Sign": torch.sign,
}


def _lower_unary(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    return [Value(b.call(_UNARY[node.op], value.data), value.layout)]


for _op in _UNARY:
    LOWERINGS[_op] = _lower_unary


@lowering("Identity", "StopGradient", "Snapshot", "PreventGradient")
def _lower_identity(b: GraphBuilder, node: TFNode) -> list[Value]:
    return [b.input(node, 0)]


@lowering("Transpose")
def _lower_transpose(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    perm = tuple(b.ints(node, 1))
    inverse = _inverse(perm)
    # physical = in_logical.permute(q) and in_logical = out_logical.permute(inverse(perm))
    return [Value(value.data, tuple(inverse[axis] for axis in value.layout))]


@lowering("Softmax")
def _lower_softmax(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    dim = value.layout.index(value.rank - 1)
    return [Value(b.module(nn.Softmax(dim=dim), node.name, value.data), value.layout)]


@lowering("Cast")
def _lower_cast(b: GraphBuilder, node: TFNode) -> list[Value]:
    from cvdemo.tfjs.graph import tf_dtype

    value = b.input(node, 0)
    dtype = ops.numpy_dtype_to_torch(tf_dtype(node.attr("DstT", "DT_FLOAT")))
    return [Value(b.call(ops.cast, value.data, dtype), value.layout)]


@lowering("ConcatV2")
def _lower_concat(b: GraphBuilder, node: TFNode) -> list[Value]:
    count = int(node.attr("N", len(node.inputs) - 1))
    values = [b.input(node, i) for i in range(count)]
    axis = b.ints(node, count)[0]
    rank = values[0].rank
    target = next((v.layout for v in values if v.layout != _identity(rank)), _identity(rank))
    data = [b.to_layout(v, target) for v in values]
    dim = target.index(axis % rank)
    return [Value(b.call(ops.concat, data, dim), target)]


@lowering("Pad", "PadV2", "MirrorPad")
def _lower_pad(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    pads = b.concrete(node, 1).reshape(-1, 2).tolist()
    fill = float(b.concrete(node, 2).reshape(-1)[0]) if node.op == "PadV2" else 0.0
    physical = [pads[value.layout[axis]] for axis in range(value.rank)]
    flat: list[int] = []
    for before, after in reversed(physical):
        flat.extend((int(before), int(after)))
    while len(flat) > 2 and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    if node.op == "MirrorPad":
        mode = node.attr("mode", "REFLECT")
        if mode != "REFLECT":
            raise UnsupportedOpError(f"MirrorPad mode {mode}")
        return [Value(b.call(torch.nn.functional.pad, value.data, tuple(flat), "reflect"), value.layout)]
    return [Value(b.call(ops.pad, value.data, tuple(flat), fill), value.layout)]


def _reduction(fn):
    def lower(b: GraphBuilder, node: TFNode) -> list[Value]:
        value = b.input(node, 0)
        axes = sorted({a % value.rank for a in b.ints(node, 1)})
        keep = bool(node.attr("keep_dims", False))
        dims = tuple(value.layout.index(a) for a in axes)
        y = b.call(fn, value.data, dims, keep)
        if keep:
            return [Value(y, value.layout)]
        remaining = [a for a in value.layout if a not in axes]
        renumber = {a: i for i, a in enumerate(sorted(remaining))}
        return [Value(y, tuple(renumber[a] for a in remaining))]

    return lower


LOWERINGS["Mean"] = _reduction(ops.reduce_mean)
LOWERINGS["Sum"] = _reduction(ops.reduce_sum)
LOWERINGS["Max"] = _reduction(ops.reduce_max)
LOWERINGS["Min"] = _reduction(ops.reduce_min)


@lowering("Reshape")
def _lower_reshape(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    shape = tuple(b.ints(node, 1))
    if b.traced_at_batch_one and shape and shape[0] == 1 and not value.is_constant:
        # A graph exported at batch 1 bakes that 1 into its Reshape targets: with n images NanoDet
        # would return (1, n·A, C) with the images mixed, and meet would fail.
        return [Value(b.call(ops.reshape_keeping_batch, b.logical(value), shape[1:]), _identity(len(shape)))]
    return [Value(b.call(ops.reshape, b.logical(value), shape), _identity(len(shape)))]


@lowering("Squeeze")
def _lower_squeeze(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    axes = [a % value.rank for a in (node.attr("squeeze_dims") or [])]
    if not axes:
        raise UnsupportedOpError(f"Squeeze {node.name} without squeeze_dims (shape-dependent rank)")
    x = b.logical(value)
    for axis in sorted(axes, reverse=True):
        x = b.call(torch.squeeze, x, axis)
    return [Value(x, _identity(value.rank - len(axes)))]


@lowering("ExpandDims")
def _lower_expand_dims(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    dim = b.ints(node, 1)[0]
    dim = dim + value.rank + 1 if dim < 0 else dim
    return [Value(b.call(torch.unsqueeze, b.logical(value), dim), _identity(value.rank + 1))]


@lowering("SplitV")
def _lower_split_v(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    sizes = b.ints(node, 1)
    axis = b.ints(node, 2)[0] % value.rank
    dim = value.layout.index(axis)
    if -1 in sizes:
        raise UnsupportedOpError(f"SplitV {node.name} with an inferred (-1) size")
    parts = b.call(ops.split_sizes, value.data, tuple(sizes), dim)
    return [Value(parts[i] if isinstance(parts, tuple) else b.fx.call_function(_item, (parts, i)), value.layout)
            for i in range(len(sizes))]


@lowering("Split")
def _lower_split(b: GraphBuilder, node: TFNode) -> list[Value]:
    axis_value = b.ints(node, 0)[0]
    value = b.input(node, 1)
    count = int(node.attr("num_split"))
    dim = value.layout.index(axis_value % value.rank)
    parts = b.call(torch.chunk, value.data, count, dim)
    return [Value(parts[i] if isinstance(parts, tuple) else b.fx.call_function(_item, (parts, i)), value.layout)
            for i in range(count)]


def _item(sequence, index: int):
    return sequence[index]


@lowering("TopKV2")
def _lower_top_k(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    k = b.ints(node, 1)[0]
    result = b.call(ops.top_k, b.logical(value), k, bool(node.attr("sorted", True)))
    if isinstance(result, tuple):
        return [Value(result[0], _identity(value.rank)), Value(result[1], _identity(value.rank))]
    return [Value(b.fx.call_function(_item, (result, 0)), _identity(value.rank)),
            Value(b.fx.call_function(_item, (result, 1)), _identity(value.rank))]


@lowering("GatherV2")
def _lower_gather(b: GraphBuilder, node: TFNode) -> list[Value]:
    params, indices = b.input(node, 0), b.input(node, 1)
    axis = b.ints(node, 2)[0] % params.rank
    y = b.call(ops.gather, b.logical(params), b.logical(indices), axis, int(node.attr("batch_dims", 0)))
    return [Value(y, _identity(params.rank - 1 + indices.rank))]


@lowering("StridedSlice")
def _lower_strided_slice(b: GraphBuilder, node: TFNode) -> list[Value]:
    value = b.input(node, 0)
    begin, end, strides = b.ints(node, 1), b.ints(node, 2), b.ints(node, 3)
    masks = {key: int(node.attr(key, 0)) for key in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    y = b.call(ops.strided_slice, b.logical(value), tuple(begin), tuple(end), tuple(strides), **masks)
    return [Value(y, _identity(_strided_slice_rank(value.rank, len(begin), masks)))]


def _strided_slice_rank(rank: int, spec_length: int, masks: dict[str, int]) -> int:
    out, consumed = 0, 0
    for i in range(spec_length):
        if masks["ellipsis_mask"] & (1 << i):
            remaining = sum(1 for j in range(i + 1, spec_length) if not masks["new_axis_mask"] & (1 << j))
            span = rank - consumed - remaining
            out += span
            consumed += span
        elif masks["new_axis_mask"] & (1 << i):
            out += 1
        elif masks["shrink_axis_mask"] & (1 << i):
            consumed += 1
        else:
            out += 1
            consumed += 1
    return out + (rank - consumed)


@lowering("SparseToDense")
def _lower_sparse_to_dense(b: GraphBuilder, node: TFNode) -> list[Value]:
    indices, shape, values, default = (b.input(node, i) for i in range(4))
    y = b.call(ops.sparse_to_dense, b.logical(indices), b.ints(node, 1), b.logical(values), b.logical(default))
    return [Value(y, _identity(len(b.ints(node, 1))))]


# ==================================================================== loading


class TFJSGraphModule(nn.Module):
    """A converted TF.js graph: ``forward(*inputs)`` returns the requested outputs.

    4-D image inputs are NCHW (even for graphs written in NHWC); 4-D outputs that were NHWC in the
    graph come back NCHW (``output_layouts`` says which). ``graph`` is the fx GraphModule: print
    ``module.graph.code`` to read the generated forward.
    """

    def __init__(self, graph_module: fx.GraphModule, input_names: list[str], output_names: list[str],
                 output_layouts: list[str], source: str):
        super().__init__()
        self.graph = graph_module
        self.input_names = input_names
        self.output_names = output_names
        self.output_layouts = output_layouts
        self.source = source

    def forward(self, *inputs: torch.Tensor):
        return self.graph(*inputs)

    def extra_repr(self) -> str:
        return f"source={self.source}, inputs={self.input_names}, outputs={self.output_names}"


def build_graph_module(graph: TFGraph, *, outputs: list[str], input_formats: dict[str, str] | None = None,
                       constants: dict[str, np.ndarray] | None = None, cached: dict[str, torch.Tensor] | None = None,
                       fuse: bool = True) -> tuple[TFJSGraphModule, ConstantStore]:
    """Build from real constants (``constants``) or from a cached conversion (``cached``)."""
    store = ConstantStore(graph, values=constants, cached=cached)
    builder = GraphBuilder(graph, store, outputs, _input_formats(graph, input_formats), fuse=fuse)
    graph_module, layouts = builder.build()
    inputs = [name for name in builder.order if graph.nodes[name].op == "Placeholder"]
    return TFJSGraphModule(graph_module, inputs, list(outputs), layouts, str(graph.source or "")), store


def _input_formats(graph: TFGraph, explicit: dict[str, str] | None) -> dict[str, str]:
    formats = dict(explicit or {})
    for name, node in graph.nodes.items():
        if node.op != "Placeholder" or name in formats:
            continue
        shape = node.attr("shape") or graph.signature_inputs.get(name) or []
        if len(shape) == 4 and shape[1] in (1, 2, 3, 4) and shape[3] not in (1, 2, 3, 4):
            formats[name] = "NCHW"
        else:
            formats[name] = "NHWC"
    return formats


def load_graph_module(model_json: str | Path, *, outputs: list[str] | None = None,
                      input_formats: dict[str, str] | None = None, fuse: bool = True,
                      cache: bool = True) -> TFJSGraphModule:
    """Load ``model.json`` + shards as a torch module (eval mode, CPU, float32).

    ``outputs`` are node names (``"name"`` or ``"name:1"``); by default the signature's outputs.
    With ``cache`` the converted state lives under ``weights/converted/`` and later loads skip
    the shards entirely.
    """
    from cvdemo.weights import cached_conversion

    model_json = Path(model_json)
    graph = read_model_json(model_json)
    if outputs is None:
        outputs = list(graph.signature_outputs)
        if not outputs:
            raise GraphBuildError(f"{model_json} has no signature outputs; name the outputs to build")
    built: dict[str, TFJSGraphModule] = {}

    def convert() -> dict[str, torch.Tensor]:
        module, store = build_graph_module(graph, outputs=outputs, input_formats=input_formats,
                                           constants=constant_values(graph, read_weights(graph)), fuse=fuse)
        built["module"] = module
        state = {f"state/{key}": value.detach().clone() for key, value in module.state_dict().items()}
        state.update({f"const/{key}": value for key, value in store.required.items()})
        return state

    def from_state(state: dict[str, torch.Tensor]) -> TFJSGraphModule:
        if "module" in built:  # converted just now: the module exists already
            return built["module"]
        cached = {key[len("const/"):]: value for key, value in state.items() if key.startswith("const/")}
        module, _ = build_graph_module(graph, outputs=outputs, input_formats=input_formats, cached=cached, fuse=fuse)
        module.load_state_dict({key[len("state/"):]: value for key, value in state.items() if key.startswith("state/")},
                               strict=True, assign=True)
        if any(t.is_meta for t in list(module.parameters()) + list(module.buffers())):
            raise _CacheMiss("some tensors were not in the cache")
        return module

    if not cache:
        convert()
        return built["module"].eval()
    key = f"tfjs-v{CONVERTER_VERSION}-{model_json.stem}-{'+'.join(outputs)}-{'fused' if fuse else 'plain'}-{sorted((input_formats or {}).items())}"
    # a cache that does not fit this build (a converter change without a CONVERTER_VERSION bump)
    # is converted afresh and replaced
    return cached_conversion(key, [model_json, *shard_paths(model_json)], convert, from_state).eval()
