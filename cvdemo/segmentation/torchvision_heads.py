"""What reaches the head of torchvision's FCN, DeepLabV3 and LR-ASPP, and at which stride.

The lecture's FCN-32s/16s/8s add class scores from the stride-16 and stride-8 encoder maps to the
upsampled stride-32 scores. torchvision's segmenters are wired differently, and this module reads
the wiring off the architectures themselves rather than from their documentation:

* ``fcn_resnet50``: a dilated ResNet-50 whose layer3 and layer4 keep stride 8; the head reads that
  one stride-8 map — **no skip** — and its scores are bilinearly upsampled ×8 in one step;
* ``deeplabv3_*``: the same kind of single map (stride 8 for ResNet-50, 16 for MobileNetV3) into
  ASPP: a 1×1 convolution, three 3×3 atrous convolutions at the rates read off the modules, and
  image pooling, concatenated and projected;
* ``lraspp_mobilenet_v3_large``: a stride-16 context branch, gated by a squeeze-and-excite style
  global average, upsampled to the stride-8 map whose own class scores are **added** — one skip.

:func:`head_wiring` runs the network on PyTorch's ``meta`` device (shapes, no arithmetic), so the
sizes for any input size cost milliseconds and need no weights: the architecture built with
``weights=None`` is the one the downloaded weights are loaded into.
:func:`segment_with_module_zeroed` runs a real (downloaded) segmenter with one part of its head
replaced by zeros — LR-ASPP's skip — to compare the prediction with and without it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from cvdemo.results import SemanticMask
from cvdemo.segmentation.decoders import nominal_stride

# Registry name → torchvision builder, in the order the page lists them.
BUILDERS = {
    "fcn-resnet50": "fcn_resnet50",
    "deeplabv3-resnet50": "deeplabv3_resnet50",
    "deeplabv3-mobilenet": "deeplabv3_mobilenet_v3_large",
    "lraspp-mobilenet": "lraspp_mobilenet_v3_large",
}
# Short names for tables (the registry's titles also say which classes they predict).
SHORT_TITLES = {
    "fcn-resnet50": "FCN ResNet-50",
    "deeplabv3-resnet50": "DeepLabV3 ResNet-50",
    "deeplabv3-mobilenet": "DeepLabV3 MobileNetV3",
    "lraspp-mobilenet": "LR-ASPP MobileNetV3",
}
# The shorter side torchvision's VOC-label weights resize a picture to (their transforms' resize_size).
SHORT_SIDE = 520
# LR-ASPP's stride-8 skip: the 1×1 convolution that turns the low-level map into class scores.
LRASPP_SKIP = "classifier.low_classifier"


@dataclass(frozen=True)
class HeadInput:
    key: str  # the backbone's output name: "out" (FCN, DeepLabV3), "low" / "high" (LR-ASPP)
    layer: str  # the backbone module that computes it, e.g. "layer4" or "16"
    channels: int
    size: tuple[int, int]  # (h, w) cells
    stride: float  # network-input pixels per cell
    dilation: int  # the largest convolution dilation up to this layer: >1 where striding was replaced


@dataclass(frozen=True)
class HeadWiring:
    builder: str
    architecture: str  # "FCN", "DeepLabV3" or "LR-ASPP"
    network_input: tuple[int, int]
    inputs: tuple[HeadInput, ...]  # the feature maps the head reads, finest first
    fusion: str  # how several inputs are combined: "none" or "addition of class scores"
    aspp_rates: tuple[int, ...]  # DeepLabV3's atrous rates; () for the others
    image_pooling: bool  # a global-average branch (ASPP pooling, LR-ASPP's gate)
    coarse_scores: tuple[int, int, int]  # (classes, h, w) before the final interpolation
    output: tuple[int, int, int]  # (classes, h, w) the network returns

    @property
    def coarse_stride(self) -> float:
        return nominal_stride(self.network_input[0], self.coarse_scores[1])

    @property
    def final_upsampling(self) -> float:
        """The factor of the one bilinear interpolation from the coarse scores to the input size."""
        return self.output[1] / self.coarse_scores[1]

    @property
    def final_upsampling_label(self) -> str:
        factor = self.final_upsampling
        if abs(factor - round(factor)) < 1e-9:
            return f"×{factor:g}"
        # 520 px over 33 cells: padded convolutions round sizes up, so the factor is a bit under the stride.
        return f"×{factor:.2f} (stride {self.coarse_stride:g}; sizes rounded up)"

    @property
    def skips(self) -> tuple[HeadInput, ...]:
        """Inputs finer than the coarsest one: the maps that bring detail back."""
        coarsest = max(i.stride for i in self.inputs)
        return tuple(i for i in self.inputs if i.stride < coarsest)


def network_size(height: int, width: int, short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """The size torchvision's segmenters resize a picture to (as :class:`TorchvisionSemanticSegmenter` does)."""
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def build_architecture(builder: str, num_classes: int = 21, device: str | torch.device = "meta") -> nn.Module:
    """The untrained architecture (``weights=None, weights_backbone=None``) in eval mode, without
    the auxiliary head (which only adds a training loss)."""
    import torchvision

    kwargs = {} if builder.startswith("lraspp") else {"aux_loss": False}
    with torch.device(device):
        network = getattr(torchvision.models.segmentation, builder)(
            weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)
    return network.eval()


def _architecture(network: nn.Module) -> str:
    head = type(getattr(network, "classifier", None)).__name__
    names = {"FCNHead": "FCN", "DeepLabHead": "DeepLabV3", "LRASPPHead": "LR-ASPP"}
    if head not in names:
        raise TypeError(f"not one of torchvision's FCN / DeepLabV3 / LR-ASPP segmenters (head {head})")
    return names[head]


def _max_dilation(backbone: nn.Module, up_to: str) -> int:
    """The largest dilation among the backbone's convolutions up to and including child ``up_to``."""
    largest = 1
    for name, child in backbone.named_children():
        for module in child.modules():
            if isinstance(module, nn.Conv2d):
                largest = max(largest, int(module.dilation[0]))
        if name == up_to:
            break
    return largest


def aspp_rates(network: nn.Module) -> tuple[int, ...]:
    """The dilation rates of DeepLabV3's 3×3 ASPP branches, read off the modules."""
    if _architecture(network) != "DeepLabV3":
        return ()
    rates = []
    aspp = network.get_submodule("classifier.0.convs")
    for branch in aspp.children():
        conv = next((m for m in branch.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is not None and conv.kernel_size == (3, 3):
            rates.append(int(conv.dilation[0]))
    return tuple(rates)


def head_wiring(network: nn.Module, network_input: tuple[int, int], builder: str = "") -> HeadWiring:
    """The maps that reach ``network``'s head for an input of ``network_input`` (h, w) pixels.

    Runs a ``meta``-device copy, so it is instant and leaves ``network`` (possibly a shared,
    loaded model) untouched.
    """
    architecture = _architecture(network)
    meta = copy.deepcopy(network).to("meta") if _device(network).type != "meta" else network
    captured: dict[str, tuple[int, ...]] = {}

    def keep(name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            captured[name] = tuple(output.shape)
        return hook

    backbone, head = meta.get_submodule("backbone"), meta.get_submodule("classifier")
    handle = head.register_forward_hook(keep("classifier"))
    try:
        with torch.no_grad():
            features = backbone(torch.zeros(1, 3, *network_input, device="meta"))
            output = meta(torch.zeros(1, 3, *network_input, device="meta"))["out"]
    finally:
        handle.remove()
    # IntermediateLayerGetter's map from backbone block to output name, e.g. {"4": "low", "16": "high"}
    return_layers = cast(dict[str, str], backbone.return_layers)
    layer_of = {key: layer for layer, key in return_layers.items()}
    inputs = []
    for key, tensor in features.items():
        _, channels, height, width = tensor.shape
        inputs.append(HeadInput(key, layer_of[key], int(channels), (int(height), int(width)),
                                nominal_stride(network_input[0], int(height)), _max_dilation(backbone, layer_of[key])))
    inputs.sort(key=lambda i: i.stride)
    classes, coarse_h, coarse_w = captured["classifier"][1:]
    out_classes, out_h, out_w = (int(v) for v in output.shape[1:])
    return HeadWiring(
        builder=builder, architecture=architecture, network_input=(int(network_input[0]), int(network_input[1])),
        inputs=tuple(inputs), fusion="addition of class scores" if len(inputs) > 1 else "none",
        aspp_rates=aspp_rates(meta), image_pooling=any(isinstance(m, nn.AdaptiveAvgPool2d) for m in head.modules()),
        coarse_scores=(int(classes), int(coarse_h), int(coarse_w)), output=(out_classes, out_h, out_w))


def _device(network: nn.Module) -> torch.device:
    parameter = next(network.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def wiring_for(builder: str, picture_size: tuple[int, int], short_side: int = SHORT_SIDE) -> HeadWiring:
    """:func:`head_wiring` of the untrained architecture for a picture of ``picture_size`` (h, w)."""
    return head_wiring(build_architecture(builder), network_size(*picture_size, short_side=short_side), builder)


def describe(wiring: HeadWiring) -> list[str]:
    """What the wiring means, in the lectures' terms (FCN-32s/16s/8s, atrous rates, skips)."""
    h, w = wiring.network_input
    main = max(wiring.inputs, key=lambda i: i.stride)
    lines = [f"Network input {h}×{w}: the backbone's deepest map is {main.size[0]}×{main.size[1]}×{main.channels} "
             f"(stride {main.stride:g})" + (f", kept that fine by dilation up to {main.dilation} instead of striding."
                                            if main.dilation > 1 else ".")]
    if wiring.architecture == "FCN":
        lines.append(f"The head reads this one stride-{main.stride:g} map — no skip is fused, unlike the lecture's "
                     f"FCN-16s/8s — and its {wiring.coarse_scores[1]}×{wiring.coarse_scores[2]} class scores are "
                     f"upsampled {wiring.final_upsampling_label} in one bilinear step.")
    elif wiring.architecture == "DeepLabV3":
        rates = ", ".join(str(r) for r in wiring.aspp_rates)
        lines.append(f"ASPP reads it with a 1×1 convolution, 3×3 atrous convolutions at rates {rates} and image pooling; "
                     f"no skip: the coarse scores are upsampled {wiring.final_upsampling_label} in one bilinear step.")
    else:
        for skip in wiring.skips:
            lines.append(f"Skip: the stride-{skip.stride:g} map ({skip.size[0]}×{skip.size[1]}×{skip.channels}, backbone "
                         f"block {skip.layer}) gets its own 1×1 class scores, added to the stride-{main.stride:g} context "
                         f"scores after those are upsampled ×{main.stride / skip.stride:g}.")
        lines.append(f"The sum ({wiring.coarse_scores[1]}×{wiring.coarse_scores[2]}) is upsampled "
                     f"{wiring.final_upsampling_label} in one bilinear step.")
    return lines


def segment_with_module_zeroed(model: Any, image: np.ndarray, module_path: str) -> SemanticMask:
    """``model.segment(image)`` with the output of ``module_path`` replaced by zeros.

    For LR-ASPP's :data:`LRASPP_SKIP` this drops the skip's summand, leaving the upsampled context
    scores alone. The hook goes on a copy: the loaded model is shared between sessions.
    """
    clone = copy.copy(model)
    clone.network = copy.deepcopy(model.network)
    module = clone.network.get_submodule(module_path)
    handle = module.register_forward_hook(lambda m, args, output: torch.zeros_like(output))
    try:
        return clone.segment(image)
    finally:
        handle.remove()


def agreement(first: np.ndarray, second: np.ndarray) -> float:
    """Share of pixels two class maps give the same class."""
    return float(np.mean(first == second))
