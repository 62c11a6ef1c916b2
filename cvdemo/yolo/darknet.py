"""A reader for Darknet's own model files: ``.cfg`` (the architecture) and ``.weights``.

Darknet (J. Redmon's C framework, in which YOLO v1–v3 were trained) describes a network as an
INI-like list of sections, one per layer, executed in order. This module turns such a list into
a :class:`DarknetNetwork` (a plain ``torch.nn.Module``) and fills it from the ``.weights`` file.

Supported sections — enough for YOLOv3 and YOLOv3-tiny:

``[net]``
    input width, height and channels (the network itself is fully convolutional).
``[convolutional]``
    ``filters``, ``size``, ``stride``, ``pad`` (``pad=1`` means ``size // 2``) or ``padding``,
    ``groups``, ``batch_normalize`` and ``activation`` (leaky = slope 0.1, linear, relu, logistic,
    mish, swish).
``[maxpool]``
    ``size``, ``stride`` and Darknet's implicit ``padding = size - 1``, split as
    ``padding // 2`` before and the rest after, with padded positions never winning the max. The
    effect that matters: YOLOv3-tiny's size-2 stride-1 pool keeps 13×13 at 13×13 by looking one
    pixel to the right/below (and at the last row/column only at itself).
``[route]``
    concatenation of earlier outputs along channels (negative indices count back from the route;
    AlexeyAB's ``groups``/``group_id`` channel split is honoured too).
``[upsample]``
    nearest-neighbour by ``stride``, times ``scale``.
``[shortcut]``
    residual sum with an earlier output, then ``activation``.
``[yolo]``
    a detection head: ``mask`` picks this head's anchors out of ``anchors``; ``classes``.

Batch normalisation is folded into the convolution while the weights are read, so the module is
conv + activation only (fewer passes over memory on CPU). Darknet's CPU inference normalises with
``(x - mean) / (sqrt(var) + 1e-6)`` — epsilon outside the square root — and that is the form
folded here.

The ``.weights`` file is: a header of int32 ``major, minor, revision`` and the count of training
images ``seen`` (int64 when ``major*10 + minor >= 2``, int32 before), then for each convolutional
layer in cfg order its biases (= BN beta when batch-normalised), then with BN the scales (gamma),
rolling means and rolling variances, then the kernel in ``(out, in/groups, k, k)`` order, all
little-endian float32. The reader insists on consuming the file exactly: a short file or bytes
left over mean the ``.cfg`` and ``.weights`` do not belong together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Bump when the converted state dict's layout or the folding changes: it is part of the cache key.
CONVERTER_VERSION = 1

DARKNET_BN_EPSILON = 1e-6
LEAKY_SLOPE = 0.1

_SECTION_KINDS = {
    "net": "net",
    "network": "net",
    "convolutional": "convolutional",
    "conv": "convolutional",
    "maxpool": "maxpool",
    "max": "maxpool",
    "route": "route",
    "upsample": "upsample",
    "shortcut": "shortcut",
    "yolo": "yolo",
}
SUPPORTED_SECTIONS = ("net", "convolutional", "maxpool", "route", "upsample", "shortcut", "yolo")
ACTIVATIONS = ("linear", "leaky", "relu", "logistic", "mish", "swish")


class DarknetError(ValueError):
    """A ``.cfg`` or ``.weights`` file this reader cannot use; the message says where and why."""


@dataclass
class Section:
    """One ``[section]`` of a ``.cfg`` file with its ``key=value`` options (values as text)."""

    kind: str
    header: str
    line: int
    source: str = "<cfg>"
    options: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"[{self.header}] at {self.source} line {self.line}"

    def _raw(self, key: str, default):
        if key in self.options:
            return self.options[key]
        if default is None:
            raise DarknetError(f"{self.where}: missing option {key!r}")
        return default

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self._raw(key, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise DarknetError(f"{self.where}: option {key}={value!r} is not an integer") from None

    def get_float(self, key: str, default: float | None = None) -> float:
        value = self._raw(key, default)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise DarknetError(f"{self.where}: option {key}={value!r} is not a number") from None

    def get_str(self, key: str, default: str | None = None) -> str:
        return str(self._raw(key, default)).strip()

    def get_ints(self, key: str, default: list[int] | None = None) -> list[int]:
        if key not in self.options and default is not None:
            return list(default)
        text = self._raw(key, None)
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise DarknetError(f"{self.where}: option {key}={text!r} is not a list of integers") from None

    def get_floats(self, key: str) -> list[float]:
        text = self._raw(key, None)
        try:
            return [float(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise DarknetError(f"{self.where}: option {key}={text!r} is not a list of numbers") from None


def parse_cfg(text: str, source: str = "<cfg>") -> list[Section]:
    """Parse ``.cfg`` text into sections; the first must be ``[net]``.

    Like Darknet, comments are whole lines starting with ``#`` or ``;``, and whitespace around keys
    and values does not matter. An unknown section is refused here, naming the type and the line,
    rather than producing a network that silently skips a layer.
    """
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetError(f"{source} line {number}: section header {line!r} lacks its closing ']'")
            header = line[1:-1].strip()
            kind = _SECTION_KINDS.get(header.lower())
            if kind is None:
                raise DarknetError(
                    f"{source} line {number}: unknown layer type [{header}]; this reader supports "
                    + ", ".join(f"[{name}]" for name in SUPPORTED_SECTIONS)
                )
            sections.append(Section(kind, header, number, source))
            continue
        if "=" not in line:
            raise DarknetError(f"{source} line {number}: expected 'key=value' or '[section]', got {line!r}")
        if not sections:
            raise DarknetError(f"{source} line {number}: option {line!r} comes before any [section]")
        key, value = line.split("=", 1)
        sections[-1].options[key.strip()] = value.strip()
    if not sections:
        raise DarknetError(f"{source}: no sections found; is this a Darknet .cfg file?")
    if sections[0].kind != "net":
        raise DarknetError(f"{sections[0].where}: the first section must be [net]")
    if len(sections) == 1:
        raise DarknetError(f"{source}: [net] is followed by no layers")
    return sections


def read_cfg(path: str | Path) -> list[Section]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DarknetError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_cfg(text, path.name)


# --------------------------------------------------------------------------------------------
# Layers


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "leaky":
        return F.leaky_relu(x, LEAKY_SLOPE, inplace=True)
    if activation == "linear":
        return x
    if activation == "relu":
        return F.relu(x, inplace=True)
    if activation == "logistic":
        return torch.sigmoid(x)
    if activation == "mish":
        return F.mish(x)
    if activation == "swish":
        return F.silu(x)
    raise DarknetError(f"unknown activation {activation!r}")


class ConvLayer(nn.Module):
    """``[convolutional]``: a convolution (batch norm already folded into it) and its activation."""

    def __init__(self, in_channels: int, filters: int, size: int, stride: int, padding: int, groups: int,
                 activation: str, batch_normalize: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, filters, size, stride, padding, groups=groups, bias=True)
        self.activation = activation
        # Only the file layout depends on this: the folded module always has a bias.
        self.batch_normalize = batch_normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activate(self.conv(x), self.activation)

    def extra_repr(self) -> str:
        return f"activation={self.activation}, batch_normalize(folded)={self.batch_normalize}"


class MaxPoolLayer(nn.Module):
    """``[maxpool]`` with Darknet's output size ``(n + padding - size) // stride + 1``.

    Darknet starts the windows ``padding // 2`` pixels before the image and ignores positions
    outside it. Padding with -inf and pooling without padding gives exactly that; only the padding a
    window can actually reach is added, so the common size-2 stride-2 pool on even sizes pads
    nothing, and the size-2 stride-1 pool of YOLOv3-tiny pads one column/row after the image.
    """

    def __init__(self, size: int, stride: int, padding: int):
        super().__init__()
        self.size, self.stride, self.padding = size, stride, padding

    def output_size(self, n: int) -> int:
        return (n + self.padding - self.size) // self.stride + 1

    def _pads(self, n: int) -> tuple[int, int]:
        before = self.padding // 2
        last_end = (self.output_size(n) - 1) * self.stride + self.size - before  # exclusive, in input coords
        return before, max(0, last_end - n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(x.shape[-2])
        left, right = self._pads(x.shape[-1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}, darknet_padding={self.padding}"


class UpsampleLayer(nn.Module):
    def __init__(self, stride: int, scale: float):
        super().__init__()
        self.stride, self.scale = stride, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.stride, mode="nearest")
        return x * self.scale if self.scale != 1.0 else x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, scale={self.scale}"


class RouteLayer(nn.Module):
    """``[route]``: the network's forward concatenates ``sources`` (absolute layer indices)."""

    def __init__(self, sources: list[int], groups: int = 1, group_id: int = 0):
        super().__init__()
        self.sources, self.groups, self.group_id = list(sources), groups, group_id

    def extra_repr(self) -> str:
        extra = f", groups={self.groups}, group_id={self.group_id}" if self.groups > 1 else ""
        return f"sources={self.sources}{extra}"


class ShortcutLayer(nn.Module):
    def __init__(self, source: int, activation: str):
        super().__init__()
        self.source, self.activation = source, activation

    def extra_repr(self) -> str:
        return f"source={self.source}, activation={self.activation}"


class YoloLayer(nn.Module):
    """``[yolo]``: marks a head. Its input, the raw ``(B·(5+C), h, w)`` tensor, is a network output.

    ``anchors`` are this head's priors (after ``mask``) in network-input pixels, ``(B, 2)`` as
    (width, height); per anchor the channels are ``tx, ty, tw, th, objectness, class_0 … class_C-1``.
    """

    anchors: torch.Tensor  # a buffer, so that it follows the module to its device

    def __init__(self, anchors: list[tuple[float, float]], mask: list[int], classes: int):
        super().__init__()
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).reshape(-1, 2), persistent=False)
        self.mask = list(mask)
        self.classes = classes

    @property
    def num_anchors(self) -> int:
        return len(self.mask)

    def extra_repr(self) -> str:
        return f"mask={self.mask}, anchors={[tuple(a) for a in self.anchors.tolist()]}, classes={self.classes}"


# --------------------------------------------------------------------------------------------
# The network


class DarknetNetwork(nn.Module):
    """The layers of a ``.cfg`` in order; ``forward`` returns the raw input of every ``[yolo]``.

    Shapes are inferred while building (with the ``[net]`` size), so a route or shortcut that
    joins tensors of different sizes, or a head whose channel count does not match its anchors
    and classes, is reported with its cfg line before any weight is read.
    """

    def __init__(self, sections: list[Section]):
        super().__init__()
        net, layer_sections = sections[0], sections[1:]
        self.input_channels = net.get_int("channels", 3)
        self.input_height = net.get_int("height", 416)
        self.input_width = net.get_int("width", 416)
        self.sections = layer_sections
        layers: list[nn.Module] = []
        shapes: list[tuple[int, int, int]] = []  # (channels, height, width) after each layer
        shape = (self.input_channels, self.input_height, self.input_width)
        for index, section in enumerate(layer_sections):
            layer, shape = _build_layer(section, index, shape, shapes)
            layers.append(layer)
            shapes.append(shape)
        self.layers = nn.ModuleList(layers)
        self.output_shapes = shapes
        self.yolo_indices = [i for i, layer in enumerate(layers) if isinstance(layer, YoloLayer)]
        if not self.yolo_indices:
            raise DarknetError(f"{net.source}: no [yolo] layer; this reader builds YOLO detectors only")
        # Keep only the outputs that a later route or shortcut reads (not every activation).
        referenced: set[int] = set()
        for layer in layers:
            if isinstance(layer, RouteLayer):
                referenced.update(layer.sources)
            elif isinstance(layer, ShortcutLayer):
                referenced.add(layer.source)
        self._kept = frozenset(referenced)

    @property
    def heads(self) -> list[YoloLayer]:
        return [layer for layer in self.layers if isinstance(layer, YoloLayer)]

    def conv_layers(self) -> list[tuple[int, ConvLayer]]:
        return [(i, layer) for i, layer in enumerate(self.layers) if isinstance(layer, ConvLayer)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        saved: dict[int, torch.Tensor] = {}
        heads: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            if isinstance(layer, RouteLayer):
                parts = [saved[i] for i in layer.sources]
                if layer.groups > 1:
                    parts = [p.chunk(layer.groups, dim=1)[layer.group_id] for p in parts]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            elif isinstance(layer, ShortcutLayer):
                x = activate(x + saved[layer.source], layer.activation)
            elif isinstance(layer, YoloLayer):
                heads.append(x)
            else:
                x = layer(x)
            if index in self._kept:
                saved[index] = x
        return heads


def _resolve(section: Section, index: int, offset: int) -> int:
    target = index + offset if offset < 0 else offset
    if not 0 <= target < index:
        raise DarknetError(f"{section.where}: layer reference {offset} points to layer {target}, "
                           f"but only layers 0…{index - 1} come before it")
    return target


Shape = tuple[int, int, int]  # (channels, height, width) of a layer's output
LayerBuilder = Callable[[Section, int, Shape, list[Shape]], tuple[nn.Module, Shape]]


def _check_activation(section: Section, activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise DarknetError(f"{section.where}: unknown activation {activation!r}; supported: {', '.join(ACTIVATIONS)}")


def _build_net(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    raise DarknetError(f"{section.where}: [net] may only appear first")


def _build_convolutional(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    channels, height, width = shape
    filters = section.get_int("filters", 1)
    size = section.get_int("size", 1)
    stride = section.get_int("stride", 1)
    padding = size // 2 if section.get_int("pad", 0) else section.get_int("padding", 0)
    groups = section.get_int("groups", 1)
    activation = section.get_str("activation", "logistic")  # Darknet's default
    _check_activation(section, activation)
    if channels % groups or filters % groups:
        raise DarknetError(f"{section.where}: groups={groups} does not divide {channels} input / {filters} output channels")
    layer = ConvLayer(channels, filters, size, stride, padding, groups, activation, bool(section.get_int("batch_normalize", 0)))
    out_h = (height + 2 * padding - size) // stride + 1
    out_w = (width + 2 * padding - size) // stride + 1
    return layer, (filters, out_h, out_w)


def _build_maxpool(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    channels, height, width = shape
    stride = section.get_int("stride", 1)
    size = section.get_int("size", stride)
    layer = MaxPoolLayer(size, stride, section.get_int("padding", size - 1))
    return layer, (channels, layer.output_size(height), layer.output_size(width))


def _build_upsample(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    channels, height, width = shape
    stride = section.get_int("stride", 2)
    if stride < 1:
        raise DarknetError(f"{section.where}: only positive upsample strides are supported, got {stride}")
    return UpsampleLayer(stride, section.get_float("scale", 1.0)), (channels, height * stride, width * stride)


def _build_route(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    offsets = section.get_ints("layers")
    if not offsets:
        raise DarknetError(f"{section.where}: 'layers' is empty")
    sources = [_resolve(section, index, offset) for offset in offsets]
    groups, group_id = section.get_int("groups", 1), section.get_int("group_id", 0)
    sizes = {shapes[s][1:] for s in sources}
    if len(sizes) != 1:
        raise DarknetError(f"{section.where}: cannot concatenate layers {sources} of different sizes {sorted(sizes)}")
    total = sum(shapes[s][0] for s in sources)
    if any(shapes[s][0] % groups for s in sources):
        raise DarknetError(f"{section.where}: groups={groups} does not divide the routed channels")
    out_h, out_w = sizes.pop()
    return RouteLayer(sources, groups, group_id), (total // groups, out_h, out_w)


def _build_shortcut(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    source = _resolve(section, index, section.get_int("from"))
    if shapes[source] != shape:
        raise DarknetError(f"{section.where}: shortcut from layer {source} of shape {shapes[source]} "
                           f"does not match the previous layer's {shape}")
    activation = section.get_str("activation", "linear")
    _check_activation(section, activation)
    return ShortcutLayer(source, activation), shape


def _build_yolo(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    channels = shape[0]
    classes = section.get_int("classes", 20)
    values = section.get_floats("anchors")
    if len(values) % 2:
        raise DarknetError(f"{section.where}: 'anchors' must be width,height pairs; got {len(values)} numbers")
    all_anchors = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    if section.get_int("num", len(all_anchors)) != len(all_anchors):
        raise DarknetError(f"{section.where}: num={section.get_int('num')} but {len(all_anchors)} anchors are listed")
    mask = section.get_ints("mask", list(range(len(all_anchors))))
    if any(not 0 <= m < len(all_anchors) for m in mask):
        raise DarknetError(f"{section.where}: mask {mask} refers to anchors beyond the {len(all_anchors)} given")
    expected = len(mask) * (classes + 5)
    if channels != expected:
        raise DarknetError(f"{section.where}: the layer before has {channels} channels, but {len(mask)} anchors × "
                           f"(5 + {classes} classes) need {expected}")
    if section.get_float("scale_x_y", 1.0) != 1.0 or section.get_int("new_coords", 0):
        raise DarknetError(f"{section.where}: scale_x_y / new_coords (YOLOv4 box decoding) are not supported")
    return YoloLayer([all_anchors[m] for m in mask], mask, classes), shape


# One builder per section kind (the canonical names of ``_SECTION_KINDS``): it checks the
# section against the shapes before it and returns the layer with its output shape.
LAYER_BUILDERS: dict[str, LayerBuilder] = {
    "net": _build_net,
    "convolutional": _build_convolutional,
    "maxpool": _build_maxpool,
    "upsample": _build_upsample,
    "route": _build_route,
    "shortcut": _build_shortcut,
    "yolo": _build_yolo,
}


def _build_layer(section: Section, index: int, shape: Shape, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    builder = LAYER_BUILDERS.get(section.kind)
    if builder is None:
        raise DarknetError(f"{section.where}: unknown layer type [{section.header}]")
    return builder(section, index, shape, shapes)


# --------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int  # training images the network had seen when saved
    size: int  # header bytes


def read_weights_header(data: bytes | Path | str, name: str = "the .weights file") -> WeightsHeader:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        path = Path(data)
        name = path.name
        with open(path, "rb") as handle:
            data = handle.read(20)
    if len(data) < 16:
        raise DarknetError(f"{name} is truncated: {len(data)} bytes, shorter than a Darknet header")
    major, minor, revision = (int(v) for v in np.frombuffer(data, dtype="<i4", count=3))
    if major * 10 + minor >= 2 and major < 1000 and minor < 1000:
        if len(data) < 20:
            raise DarknetError(f"{name} is truncated inside its 20-byte header")
        return WeightsHeader(major, minor, revision, int(np.frombuffer(data, dtype="<i8", count=1, offset=12)[0]), 20)
    return WeightsHeader(major, minor, revision, int(np.frombuffer(data, dtype="<i4", count=1, offset=12)[0]), 16)


def read_weights(path: str | Path, network: DarknetNetwork) -> dict[str, torch.Tensor]:
    """The state dict of ``network`` from a ``.weights`` file, batch norm folded into each conv.

    Raises :class:`DarknetError` naming the layer and its cfg line when the file ends early, and
    the number of bytes left when it is longer than the cfg's layers need.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DarknetError(f"cannot read {path}: {exc.strerror or exc}") from None
    header = read_weights_header(data, path.name)
    body = len(data) - header.size
    # A cut can fall inside a float: read the whole floats, and count the stray bytes as left over.
    values = np.frombuffer(data, dtype="<f4", count=body // 4, offset=header.size)
    stray = body % 4
    cursor = 0
    state: dict[str, torch.Tensor] = {}

    for index, layer in network.conv_layers():
        conv = layer.conv
        section = network.sections[index]
        out_channels = conv.out_channels
        kernel_shape = tuple(conv.weight.shape)

        def take(count: int, what: str) -> np.ndarray:
            nonlocal cursor
            if cursor + count > len(values):
                offset = header.size + 4 * cursor
                raise DarknetError(
                    f"{path.name} is truncated: layer {index} ({section.where}) needs {count} float32 values for its "
                    f"{what} from byte {offset}, but only {len(values) - cursor} remain ({len(data)} bytes in all). "
                    "The file is incomplete or belongs to a different .cfg."
                )
            chunk = values[cursor:cursor + count].astype(np.float64)
            cursor += count
            return chunk

        bias = take(out_channels, "biases")
        if layer.batch_normalize:
            gamma = take(out_channels, "batch-norm scales")
            mean = take(out_channels, "batch-norm rolling means")
            variance = take(out_channels, "batch-norm rolling variances")
        kernel = take(int(np.prod(kernel_shape)), "kernel").reshape(kernel_shape)
        if layer.batch_normalize:
            factor = gamma / (np.sqrt(variance) + DARKNET_BN_EPSILON)
            kernel = kernel * factor[:, None, None, None]
            bias = bias - mean * factor
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            raise DarknetError(f"{path.name}: layer {index} ({section.where}) holds non-finite values; the file is damaged")
        state[f"layers.{index}.conv.weight"] = torch.from_numpy(kernel.astype(np.float32))
        state[f"layers.{index}.conv.bias"] = torch.from_numpy(bias.astype(np.float32))

    left = len(values) - cursor
    if left or stray:
        raise DarknetError(
            f"{path.name} has {4 * left + stray} bytes left after the last convolutional layer: "
            "the .weights file does not match the .cfg"
        )
    return state


def load_darknet(cfg_path: str | Path, weights_path: str | Path) -> DarknetNetwork:
    """Build the network of ``cfg_path`` with the weights of ``weights_path``, in eval mode on CPU.

    The conversion (reading, checking and folding the weights) runs once; its state dict is cached
    under ``weights/converted`` and reused while both files stay the same.
    """
    from cvdemo.weights import cached_conversion

    cfg_path, weights_path = Path(cfg_path), Path(weights_path)
    network = DarknetNetwork(read_cfg(cfg_path))
    key = f"darknet-v{CONVERTER_VERSION}-{weights_path.stem}"
    cached_conversion(key, [cfg_path, weights_path], lambda: read_weights(weights_path, network),
                      lambda state: network.load_state_dict(state, strict=True))
    return network.eval()
