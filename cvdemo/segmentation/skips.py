"""Skip connections in real decoders, and the structure of PSPNet's and DeepLabV3+'s heads.

FCN (Long et al.) upsamples its stride-32 class scores and **adds** scores computed from the
stride-16 and stride-8 features (FCN-16s, FCN-8s); U-Net **concatenates** encoder features to the
upsampled decoder features. The offline person segmenters (MediaPipe selfie and meet) are traced
here as ``torch.fx`` graphs: every decoder stage is found as an upsampling followed by an addition
with an encoder map of the same size, the skip. :func:`run_with_skips` then runs the network with
any subset of those skips cut (the encoder map replaced by zeros where the decoder reads it), so
that "no skips → 1 skip → 2 skips" can be watched on the user's photo, as in the FCN paper's figure.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import fx
from torch.fx.passes.shape_prop import ShapeProp

from cvdemo.segmentation.miou import confusion_matrix, iou_per_class

_ADD = (operator.add, torch.add)


@dataclass(frozen=True)
class Skip:
    source: str  # the encoder node whose map the decoder adds back
    upsampled: str  # the upsampling node that brought the decoder to this size
    merge: str  # the first node that combines the two
    merge_kind: str  # "addition" (FCN) or "concatenation" (U-Net)
    readers: tuple[str, ...]  # every decoder node that reads the source
    channels: int
    size: tuple[int, int]
    stride: float  # network-input pixels per cell
    merged_channels: int  # channels after the merge: C for an addition, C_skip + C_up for a concatenation

    @property
    def label(self) -> str:
        return f"stride {self.stride:g} ({self.size[0]}×{self.size[1]}×{self.channels})"


def graph_module(model) -> fx.GraphModule:
    """The ``torch.fx`` graph inside a converted TF.js segmenter."""
    for module in model.network.modules():
        if isinstance(module, fx.GraphModule):
            return module
    raise TypeError(f"{type(model).__name__} has no traced graph: skips can only be found in the offline segmenters")


def _is_upsampling(module: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_function":
        return getattr(node.target, "__name__", "") in ("resize_bilinear", "resize_nearest_neighbor", "interpolate")
    if node.op == "call_module":
        # a call_module node's target is the module's name
        return isinstance(node.target, str) and isinstance(module.get_submodule(node.target), torch.nn.ConvTranspose2d)
    return False


def _is_concat(node: fx.Node) -> bool:
    return node.op == "call_function" and getattr(node.target, "__name__", "") in ("concat", "cat")


def _shape(node) -> tuple[int, ...] | None:
    meta = getattr(node, "meta", {}).get("tensor_meta")
    return tuple(meta.shape) if meta is not None else None


def _propagated_shape(node: fx.Node) -> tuple[int, ...]:
    """The shape ShapeProp recorded for a node that yields a tensor."""
    shape = _shape(node)
    if shape is None:
        raise ValueError(f"node {node.name} has no recorded tensor shape")
    return shape


def _descendants(node: fx.Node) -> set[fx.Node]:
    seen, stack = set(), [node]
    while stack:
        for user in stack.pop().users:
            if user not in seen:
                seen.add(user)
                stack.append(user)
    return seen


def find_skips(module: fx.GraphModule, input_size: tuple[int, int]) -> list[Skip]:
    """Every decoder stage's skip, coarsest first. Shapes come from one run on zeros."""
    ShapeProp(module).propagate(torch.zeros(1, 3, *input_size))
    order = {node: index for index, node in enumerate(module.graph.nodes)}
    skips = []
    for node in module.graph.nodes:
        if not _is_upsampling(module, node):
            continue
        size = _propagated_shape(node)[-2:]
        after = _descendants(node)
        for merge in sorted(after, key=order.__getitem__):
            if merge.op != "call_function" or not (merge.target in _ADD or _is_concat(merge)):
                continue
            # a concatenation's first argument is the list of the maps it joins
            inputs = cast(Sequence[fx.node.Argument], merge.args[0]) if _is_concat(merge) else merge.args
            others = [a for a in inputs if isinstance(a, fx.Node) and a not in after and a is not node]
            sources = [a for a in others if (shape := _shape(a)) and shape[-2:] == size and order[a] < order[node]]
            if sources:
                source = sources[0]
                readers = tuple(u.name for u in source.users if u in after)
                skips.append(Skip(source.name, node.name, merge.name, "concatenation" if _is_concat(merge) else "addition",
                                  readers, _propagated_shape(source)[1], (size[0], size[1]),
                                  input_size[1] / size[1], _propagated_shape(merge)[1]))
                break
    return sorted(skips, key=lambda s: -s.stride)


class _SkipCutter(fx.Interpreter):
    """Runs the graph, handing zeros instead of a cut skip's map to the decoder nodes that read it."""

    def __init__(self, module: fx.GraphModule, cut: Iterable[Skip]):
        super().__init__(module)
        self.cut: dict[str, list[str]] = {}
        for skip in cut:
            for reader in skip.readers:
                self.cut.setdefault(reader, []).append(skip.source)
        self.by_name = {node.name: node for node in module.graph.nodes}

    def run_node(self, node: fx.Node):
        if node.name not in self.cut:
            return super().run_node(node)
        saved = {}
        for source in self.cut[node.name]:
            source_node = self.by_name[source]
            saved[source_node] = self.env[source_node]
            self.env[source_node] = torch.zeros_like(saved[source_node])
        try:
            return super().run_node(node)
        finally:
            self.env.update(saved)


def run_with_skips(model, image: np.ndarray, skips: Sequence[Skip], kept: Iterable[Skip]) -> np.ndarray:
    """The person probability at the network's input size with only the ``kept`` skips."""
    kept_sources = {skip.source for skip in kept}
    cut = [skip for skip in skips if skip.source not in kept_sources]
    module = graph_module(model)
    wrapper = model.network
    tensor = model.preprocess(image).float()
    with torch.inference_mode():
        out = _SkipCutter(module, cut).run(tensor.contiguous())
        if isinstance(out, (list, tuple)):
            out = out[0]
        if getattr(wrapper, "kind", "") == "two-class":
            out = out[:, 1:2] - out[:, 0:1]
        return torch.sigmoid(out.float())[0, 0].numpy()


@dataclass(frozen=True)
class SkipStep:
    title: str
    kept: tuple[Skip, ...]
    probability: np.ndarray  # (h, w) at the network's input size
    iou_with_full: float
    edge_sharpness: float  # mean |∇p| over the mask boundary band: higher = crisper edges


def _person_iou(mask: np.ndarray, reference: np.ndarray) -> float:
    """IoU of the person class; 1 when neither mask has a person pixel (they agree)."""
    value = iou_per_class(confusion_matrix(mask, reference, 2))[1]
    return 1.0 if np.isnan(value) else float(value)


def _sharpness(probability: np.ndarray) -> float:
    gy, gx = np.gradient(probability.astype(np.float64))
    magnitude = np.hypot(gx, gy)
    band = (probability > 0.1) & (probability < 0.9)
    return float(magnitude[band].mean()) if band.any() else float(magnitude.max())


def skip_ladder(model, image: np.ndarray, skips: Sequence[Skip]) -> list[SkipStep]:
    """No skips, then the skips added back coarsest first, ending with the network as trained."""
    results = [run_with_skips(model, image, skips, skips[:count]) for count in range(len(skips) + 1)]
    full = results[-1] >= 0.5
    steps = []
    for count, probability in enumerate(results):
        if count == 0:
            title = f"no skips: decoder from the stride-{skips[0].stride * 2:g} bottleneck alone" if skips else "as trained"
        elif count == len(skips):
            title = f"all {count} skips (the network as trained)"
        else:
            title = f"{count} skip{'s' if count > 1 else ''}: down to stride {skips[count - 1].stride:g}"
        steps.append(SkipStep(title, tuple(skips[:count]), probability, _person_iou(probability >= 0.5, full), _sharpness(probability)))
    return steps


# ---------------------------------------------------------------------------------------------
# PSPNet and DeepLabV3+ as structure views


def feature_size(side: int, output_stride: int) -> int:
    """Cells of a dilated ResNet-style backbone's output (stride-2 layers with padding: ceil)."""
    return math.ceil(side / output_stride)


@dataclass(frozen=True)
class PyramidLevel:
    bins: int  # the level pools the map to bins × bins
    cell: tuple[float, float]  # feature cells per bin (rows, cols)
    pixels: tuple[float, float]  # input pixels per bin (rows, cols)


def psp_pyramid(height: int, width: int, output_stride: int = 8, bins: Sequence[int] = (1, 2, 3, 6)) -> tuple[tuple[int, int], list[PyramidLevel]]:
    """PSPNet's pyramid pooling module: the stride-8 map average-pooled to 1×1, 2×2, 3×3 and 6×6
    (each followed by a 1×1 conv to C/4 channels, upsampled and concatenated with the map)."""
    fh, fw = feature_size(height, output_stride), feature_size(width, output_stride)
    return (fh, fw), [PyramidLevel(b, (fh / b, fw / b), (height / b, width / b)) for b in bins]


@dataclass(frozen=True)
class AsppBranch:
    name: str
    rate: int
    span_cells: int  # a 3×3 atrous kernel's extent, (2·rate + 1) cells; 1 for the 1×1
    span_pixels: int  # that extent in input pixels
    taps_inside: int  # of its 9 taps, how many fall on the feature map at its centre


def deeplabv3plus(height: int, width: int, output_stride: int = 16, rates: Sequence[int] = (6, 12, 18)) -> dict:
    """DeepLabV3+'s feature sizes for an input: encoder at ``output_stride`` with ASPP, the decoder
    upsampling ×(OS/4), concatenating 48 channels of stride-4 low-level features, then ×4 again."""
    fh, fw = feature_size(height, output_stride), feature_size(width, output_stride)
    centre = (fh // 2, fw // 2)

    def inside(rate: int) -> int:
        return sum(0 <= centre[0] + dy * rate < fh and 0 <= centre[1] + dx * rate < fw
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))

    branches = [AsppBranch("1×1 conv", 0, 1, output_stride, 1)]
    branches += [AsppBranch(f"3×3 conv, rate {r}", r, 2 * r + 1, (2 * r + 1) * output_stride, inside(r)) for r in rates]
    branches.append(AsppBranch("image pooling", 0, max(fh, fw), max(height, width), 1))
    low = (feature_size(height, 4), feature_size(width, 4))
    return {
        "input": (height, width),
        "encoder": (fh, fw),
        "aspp_branches": branches,
        "aspp_out": (256, fh, fw),
        "low_level": (48, *low),
        "decoder_concat": (256 + 48, *low),
        "output": (height, width),
    }


def draw_pyramid_bins(picture: np.ndarray, bins: int) -> np.ndarray:
    """The picture split into PSPNet's ``bins × bins`` pooling regions (each averaged to one value)."""
    import cv2

    out = np.ascontiguousarray(picture.copy())
    height, width = out.shape[:2]
    thickness = max(2, round(min(height, width) / 150))
    for k in range(1, bins):
        cv2.line(out, (round(k * width / bins), 0), (round(k * width / bins), height), (255, 230, 0), thickness)
        cv2.line(out, (0, round(k * height / bins)), (width, round(k * height / bins)), (255, 230, 0), thickness)
    return out


ASPP_COLOURS = ((255, 80, 80), (80, 220, 80), (80, 160, 255))


def draw_aspp_taps(picture: np.ndarray, image_size: tuple[int, int], output_stride: int = 16,
                   rates: Sequence[int] = (6, 12, 18)) -> np.ndarray:
    """Where each atrous 3×3 kernel of ASPP reads, centred on the picture: its 9 taps, ``rate``
    feature cells apart, one feature cell being ``output_stride`` input pixels."""
    import cv2

    out = np.ascontiguousarray(picture.copy())
    height, width = out.shape[:2]
    fy, fx_ = height / image_size[0], width / image_size[1]
    cy, cx = height / 2, width / 2
    cell = output_stride * min(fy, fx_)
    for rate, colour in zip(rates, ASPP_COLOURS):
        half = rate * output_stride
        cv2.rectangle(out, (round(cx - half * fx_), round(cy - half * fy)), (round(cx + half * fx_), round(cy + half * fy)),
                      colour, 1)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                y, x = cy + dy * half * fy, cx + dx * half * fx_
                cv2.rectangle(out, (round(x - cell / 2), round(y - cell / 2)), (round(x + cell / 2), round(y + cell / 2)),
                              colour, -1 if (dy, dx) != (0, 0) else 2)
    return out
