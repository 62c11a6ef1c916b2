"""Inside a real decoder: the maps a segmentation network computes on the way down and back up.

``trace_decoder(model, image)`` runs any :class:`cvdemo.tasks.SemanticSegmenter` once with
forward hooks and returns, in execution order,

* the **resolution path**: for each run of layers working at one spatial size, the last map of
  that run — the encoder's stride-2/4/8/… maps, the bottleneck, then (in encoder-decoder nets
  such as the offline person segmenters) each decoder stage as it is upsampled again;
* the **named parts** torchvision's heads have: the coarse score map before the final bilinear
  upsampling (FCN, DeepLabV3, LR-ASPP), each ASPP branch (1×1, three atrous rates, image
  pooling), LR-ASPP's stride-8 skip and stride-16 context scores;
* every **transposed convolution** and upsampling layer with its kernel, stride, padding and
  the overlap unevenness that kernel/stride pair gives (the checkerboard measure of
  :mod:`cvdemo.segmentation.upsampling`);
* the final, full-resolution prediction.

Hooks go on a deep copy of the network: wrappers are shared between Streamlit sessions and
threads (see :mod:`cvdemo.tasks`), and a hook left on the shared module would capture other
users' frames.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Sequence, cast

import numpy as np
import torch

from cvdemo.colormaps import is_flat
from cvdemo.geometry import pair
from cvdemo.results import SemanticMask
from cvdemo.segmentation.upsampling import overlap_counts, unevenness

# Types that are plumbing, not a stage a student wants to look at.
_SKIP_TYPES = (torch.nn.Dropout, torch.nn.Identity)


@dataclass
class StageMap:
    name: str  # module path in the network, e.g. "classifier.0.convs.1"
    title: str  # what the page shows
    role: str  # "encoder", "bottleneck", "decoder", "score map", "ASPP branch", "skip"
    shape: tuple[int, int, int]  # (channels, h, w)
    stride: float  # network-input pixels per cell of this map
    energy: np.ndarray  # (h, w) float32 in [0, 1]: per-cell L2 norm over channels, normalised
    pca: np.ndarray | None = None  # (h, w, 3) uint8: the 3 main channel directions as RGB
    scores: np.ndarray | None = None  # (classes, h, w) probabilities, for score maps
    logits: np.ndarray | None = None  # (classes, h, w) raw values of maps with one channel per class
    order: int = 0

    @property
    def size_label(self) -> str:
        channels, height, width = self.shape
        return f"{channels}×{height}×{width}"


@dataclass
class UpsamplingLayer:
    name: str
    kind: str  # "transposed convolution", "upsample (bilinear)", …
    input_shape: tuple[int, int]
    output_shape: tuple[int, int]
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    channels: tuple[int, int] | None = None  # (in, out)
    overlap_unevenness: float | None = None  # 1.0 = every output pixel gets as many taps

    @property
    def factor(self) -> float:
        return self.output_shape[0] / max(self.input_shape[0], 1)


@dataclass
class DecoderTrace:
    model: str
    network_input: tuple[int, int]  # (h, w) the network saw
    path: list[StageMap]  # the resolution path, execution order
    named: list[StageMap]  # torchvision heads' score maps and branches
    upsampling: list[UpsamplingLayer]
    mask: SemanticMask
    notes: list[str] = field(default_factory=list)

    def stages(self, role: str) -> list[StageMap]:
        return [s for s in self.path + self.named if s.role == role]


def summarise(tensor: torch.Tensor, network_input: tuple[int, int], *, name: str, title: str, role: str,
              order: int, as_scores: str | None = None, keep_logits: bool = False) -> StageMap:
    """Reduce a ``(1, C, h, w)`` activation to small arrays the page can draw.

    ``as_scores`` = "softmax" or "sigmoid" also keeps class probabilities for score maps.
    """
    x = tensor.detach()[0].float().cpu()
    channels, height, width = x.shape
    energy = torch.linalg.vector_norm(x, dim=0)
    if is_flat(energy.numpy()):
        # Constant up to float rounding (ASPP's image-pooling branch is broadcast): drawn flat —
        # every cell at the top of the scale, or all zero — never stretched into invented contrast.
        energy = torch.full_like(energy, 1.0 if float(energy.max()) > 0 else 0.0)
    else:
        energy = (energy - energy.min()) / (energy.max() - energy.min())
    scores = None
    if as_scores == "softmax":
        scores = torch.softmax(x, dim=0).numpy()
    elif as_scores == "sigmoid":
        scores = torch.sigmoid(x).numpy()
    return StageMap(name=name, title=title, role=role, shape=(channels, height, width),
                    stride=nominal_stride(network_input[0], height), energy=energy.numpy().astype(np.float32),
                    pca=_pca_rgb(x), scores=scores, logits=x.numpy().copy() if keep_logits else None, order=order)


def nominal_stride(input_size: int, size: int) -> float:
    """520 px over 33 cells is "stride 16" (convolutions round sizes up); snap to a power of two
    within 10 %, otherwise report the plain ratio."""
    ratio = input_size / max(size, 1)
    nearest = 2.0 ** round(np.log2(ratio)) if ratio > 0 else 1.0
    return nearest if abs(ratio - nearest) <= 0.1 * nearest else round(ratio, 2)


def _pca_rgb(x: torch.Tensor) -> np.ndarray | None:
    """Project every cell's channel vector on the 3 main directions: cells the network treats
    alike get alike colours, which shows what a stage has grouped together."""
    channels, height, width = x.shape
    if channels < 3 or height * width < 4:
        return None
    flat = x.reshape(channels, -1).T  # (cells, channels)
    flat = flat - flat.mean(dim=0, keepdim=True)
    if not torch.isfinite(flat).all() or float(flat.abs().max()) == 0.0:
        return None
    generator = torch.Generator().manual_seed(0)  # the same image should look the same twice
    sample = flat[torch.randperm(flat.shape[0], generator=generator)[:4096]]  # fitting on 4k cells is plenty
    with torch.random.fork_rng(devices=[]):  # pca_lowrank is randomised; seed it without touching global state
        torch.manual_seed(0)
        _, _, directions = torch.pca_lowrank(sample, q=3, center=False, niter=3)
    projected = flat @ directions[:, :3]
    low, high = projected.quantile(0.01, dim=0), projected.quantile(0.99, dim=0)
    projected = ((projected - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    return (projected.reshape(height, width, 3).numpy() * 255).round().astype(np.uint8)


def _size(tensor: torch.Tensor) -> tuple[int, int]:
    return int(tensor.shape[-2]), int(tensor.shape[-1])


def _spatial(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[0] >= 1:
        return output
    return None


class _Recorder:
    """Forward hooks that keep only what the trace needs, so a big backbone's ~200 layer outputs
    are never all alive at once: the last output of each resolution run and the named parts."""

    def __init__(self, network: torch.nn.Module, named: dict[str, tuple[str, str, str | None]]):
        self.network = network
        self.named_specs = named  # module path -> (title, role, as_scores)
        self.network_input: tuple[int, int] | None = None
        self.network_output: tuple[int, int] | None = None
        self.runs: list[tuple[int, str, torch.Tensor]] = []  # (order, module path, last output)
        self.named_outputs: dict[str, tuple[int, torch.Tensor]] = {}
        self.upsampling: list[UpsamplingLayer] = []
        self.order = 0
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def attach(self) -> None:
        self.handles.append(self.network.register_forward_pre_hook(self._on_input))
        self.handles.append(self.network.register_forward_hook(self._on_output))
        for path, module in self.network.named_modules():
            if path in self.named_specs:
                self.handles.append(module.register_forward_hook(self._named_hook(path)))
            if next(module.children(), None) is None and not isinstance(module, _SKIP_TYPES):
                self.handles.append(module.register_forward_hook(self._leaf_hook(path)))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _on_input(self, module, args) -> None:
        for arg in args:
            tensor = _spatial(arg)
            if tensor is not None:
                self.network_input = _size(tensor)
                return

    def _on_output(self, module, args, output) -> None:
        if isinstance(output, dict):
            output = output.get("out", next(iter(output.values()), None))
        elif isinstance(output, (tuple, list)) and output:
            output = output[0]
        tensor = _spatial(output)
        if tensor is not None:
            self.network_output = _size(tensor)

    def _named_hook(self, path: str):
        def hook(module, args, output) -> None:
            tensor = _spatial(output)
            if tensor is not None:
                self.named_outputs[path] = (self.order, tensor)
        return hook

    def _leaf_hook(self, path: str):
        def hook(module, args, output) -> None:
            tensor = _spatial(output)
            if tensor is None:
                return
            self.order += 1
            if self.runs and self.runs[-1][2].shape[-2:] == tensor.shape[-2:]:
                self.runs[-1] = (self.order, path, tensor)  # same resolution: keep the newest
            else:
                self.runs.append((self.order, path, tensor))
            source = _spatial(args[0]) if args else None
            if source is not None and tensor.shape[-1] > source.shape[-1]:
                self.upsampling.append(_describe_upsampling(path, module, source, tensor))
        return hook


def _describe_upsampling(path: str, module: torch.nn.Module, source: torch.Tensor, output: torch.Tensor) -> UpsamplingLayer:
    in_hw, out_hw = _size(source), _size(output)
    if isinstance(module, torch.nn.ConvTranspose2d):
        # a transposed convolution's padding is always numbers (only Conv2d accepts "same"/"valid")
        kernel, stride, padding = pair(module.kernel_size), pair(module.stride), pair(cast(tuple[int, ...], module.padding))
        counts = overlap_counts((6, 6), kernel, stride, 0)
        return UpsamplingLayer(path, "transposed convolution", in_hw, out_hw, kernel, stride, padding,
                               (module.in_channels, module.out_channels),
                               unevenness(counts, max(kernel)))
    mode = getattr(module, "mode", None)
    kind = f"upsample ({mode})" if mode else type(module).__name__
    return UpsamplingLayer(path, kind, in_hw, out_hw)


def torchvision_parts(network: torch.nn.Module, categories: Sequence[str]) -> dict[str, tuple[str, str, str | None]]:
    """The named parts of torchvision's FCN / DeepLabV3 / LR-ASPP heads, found by module type."""
    parts: dict[str, tuple[str, str, str | None]] = {}
    classifier = getattr(network, "classifier", None)
    if classifier is None:
        return parts
    backbone = getattr(network, "backbone", None)
    if backbone is not None and hasattr(backbone, "layer4"):
        for index in range(1, 5):
            layer = getattr(backbone, f"layer{index}")
            dilation = max((m.dilation[0] for m in layer.modules() if isinstance(m, torch.nn.Conv2d)), default=1)
            note = f", dilation up to {dilation} instead of striding" if dilation > 1 else ""
            parts[f"backbone.layer{index}"] = (f"ResNet layer{index}{note}", "encoder", None)
    elif backbone is not None:
        children = [name for name, _ in backbone.named_children()]
        if children:
            parts[f"backbone.{children[-1]}"] = ("Backbone output (last MobileNetV3 block)", "encoder", None)
    head = type(classifier).__name__
    if head in ("FCNHead", "DeepLabHead"):
        parts["classifier"] = ("Coarse class scores (before the final bilinear upsampling)", "score map", "softmax")
    if head == "DeepLabHead":
        aspp = classifier[0]
        rates = []
        for index, branch in enumerate(aspp.convs):
            conv = next((m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)), None)
            if type(branch).__name__ == "ASPPPooling":
                title = "ASPP image pooling (global average, broadcast back)"
            elif conv is not None and conv.kernel_size == (1, 1):
                title = "ASPP 1×1 convolution"
            else:
                rate = conv.dilation[0] if conv is not None else "?"
                rates.append(rate)
                title = f"ASPP 3×3 atrous convolution, rate {rate}"
            parts[f"classifier.0.convs.{index}"] = (title, "ASPP branch", None)
        parts["classifier.0.project"] = ("ASPP branches concatenated and projected (1×1)", "ASPP branch", None)
    if head == "LRASPPHead":
        parts["classifier.low_classifier"] = ("Stride-8 skip: class scores from low-level features", "skip", None)
        parts["classifier.high_classifier"] = ("Stride-16 context: class scores from the gated high-level branch", "score map", None)
        parts["classifier"] = ("Coarse class scores = skip + context (before the final upsampling)", "score map", "softmax")
    return parts


def _clone(model: Any) -> Any:
    clone = copy.copy(model)
    clone.network = copy.deepcopy(model.network)
    return clone


def trace_decoder(model: Any, image: np.ndarray, name: str = "") -> DecoderTrace:
    """Run ``model.segment(image)`` on a hooked copy of its network and collect the maps."""
    categories = tuple(model.categories)
    clone = _clone(model)
    named = torchvision_parts(clone.network, categories)
    recorder = _Recorder(clone.network, named)
    recorder.attach()
    try:
        mask = clone.segment(image)
    finally:
        recorder.detach()
    network_input = recorder.network_input or tuple(image.shape[:2])
    # Where the head has a named score map, the last layer run is only part of it (LR-ASPP adds
    # two), so the path does not call it the scores.
    path = _resolution_path(recorder.runs, network_input, categories, with_scores=not named)
    named_maps = []
    for module_path, (title, role, as_scores) in named.items():
        if module_path in recorder.named_outputs:
            order, tensor = recorder.named_outputs[module_path]
            scores = as_scores if tensor.shape[1] == len(categories) else None
            named_maps.append(summarise(tensor, network_input, name=module_path, title=title, role=role,
                                        order=order, as_scores=scores, keep_logits=tensor.shape[1] == len(categories)))
    named_maps.sort(key=lambda s: s.order)
    notes = _notes(path, recorder.upsampling, named_maps, recorder.network_output)
    return DecoderTrace(name, network_input, path, named_maps, recorder.upsampling, mask, notes)


def _resolution_path(runs: list[tuple[int, str, torch.Tensor]], network_input: tuple[int, int],
                     categories: Sequence[str], with_scores: bool = True) -> list[StageMap]:
    # Global pooling branches (ASPP's image pooling, LR-ASPP's and squeeze-excite gates) run at
    # 1×1 — or as 1×C rows in graphs converted from TF.js — and are broadcast back: context, not a
    # step of the resolution path.
    kept: list[tuple[int, str, torch.Tensor]] = []
    for run in runs:
        if min(run[2].shape[-2:]) == 1:
            continue
        if kept and kept[-1][2].shape[-2:] == run[2].shape[-2:]:
            kept[-1] = run
        else:
            kept.append(run)
    runs = kept
    if not runs:
        return []
    widths = [tensor.shape[-1] for _, _, tensor in runs]
    bottleneck = int(np.argmin(widths))
    stages = []
    for index, (order, path, tensor) in enumerate(runs):
        role = "encoder" if index < bottleneck else "bottleneck" if index == bottleneck else "decoder"
        last = index == len(runs) - 1
        channels = tensor.shape[1]
        scores = None
        if not with_scores:
            pass
        elif last and channels == len(categories) and channels > 1:
            scores = "softmax"
        elif last and channels == 1:
            scores = "sigmoid"
        stride = nominal_stride(network_input[0], tensor.shape[-2])
        title = f"{role} · stride {stride:g} · {path or 'input'}"
        stages.append(summarise(tensor, network_input, name=path, title=title, role=role, order=order, as_scores=scores))
    return stages


def _notes(path: list[StageMap], upsampling: list[UpsamplingLayer], named: list[StageMap],
           network_output: tuple[int, int] | None = None) -> list[str]:
    notes = []
    if path:
        coarsest = max(path, key=lambda s: s.stride)
        notes.append(f"The coarsest map is {coarsest.shape[1]}×{coarsest.shape[2]} cells: each cell stands for "
                     f"{coarsest.stride:g}×{coarsest.stride:g} input pixels.")
    transposed = [u for u in upsampling if u.kind == "transposed convolution"]
    for layer in transposed:
        if layer.kernel is None or layer.stride is None:  # always set on transposed convolutions
            continue
        k, s = layer.kernel, layer.stride
        even = layer.overlap_unevenness is not None and layer.overlap_unevenness <= 1.0 + 1e-9
        if layer.overlap_unevenness == float("inf"):
            notes.append(f"{layer.name}: transposed convolution {k[0]}×{k[1]} with the larger stride {s[0]}: "
                         "some output pixels get no tap at all (gaps).")
            continue
        notes.append(
            f"{layer.name}: transposed convolution {k[0]}×{k[1]}, stride {s[0]}, {layer.input_shape[0]}×{layer.input_shape[1]} → "
            f"{layer.output_shape[0]}×{layer.output_shape[1]}; "
            + ("the kernel is a multiple of the stride, so every output pixel gets the same number of taps (no checkerboard)."
               if even else f"kernel not a multiple of the stride: some output pixels get {layer.overlap_unevenness:g}× the taps of others (checkerboard risk).")
        )
    sizes = [s.shape[2] for s in path] + ([network_output[1]] if network_output else [])
    functional = sum(1 for before, after in zip(sizes, sizes[1:]) if after > before) - len(upsampling)
    if functional > 0:
        notes.append(f"{functional} resolution increase(s) happen outside any layer: bilinear interpolation called in "
                     "the forward code (no weights), often followed by convolutions that sharpen the result.")
    if not transposed and upsampling:
        notes.append("This network upsamples with fixed interpolation layers, not learned transposed convolutions.")
    scores = [s for s in named if s.role == "score map" and s.scores is not None]
    if scores:
        coarse = scores[-1]
        notes.append(f"Last step: the coarse {coarse.shape[1]}×{coarse.shape[2]} score map is bilinearly interpolated "
                     f"×{coarse.stride:g} to the input size in one go — no weights, so fine detail must already be in it.")
    return notes
