"""What the app says about a torchvision zoo model, read from its weight enum member.

torchvision documents each set of weights in ``member.meta`` (categories, parameter count,
GFLOPs, file size, benchmark metrics) and ``member.url`` (the file, whose name carries a prefix
of its sha256). The specs hold the member itself and build their facts from it, so the numbers
shown are torchvision's own and cannot drift from the weights actually loaded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torchvision

from cvdemo.weights import PackageFile, TorchvisionWeights

# torchvision's metric names, as a lecture would write them
METRIC_LABELS = {"acc@1": "top-1", "acc@5": "top-5", "box_map": "box mAP", "mask_map": "mask mAP", "miou": "mIoU",
                 "pixel_acc": "pixel accuracy"}
# The benchmark each task's description quotes, and which of its metrics
BENCHMARK_METRICS = {"ImageNet-1K": ("acc@1",), "COCO-val2017": ("box_map", "mask_map"),
                     "COCO-val2017-VOC-labels": ("miou",)}


def weights_source(member: Any, alias: PackageFile | None = None) -> TorchvisionWeights:
    """The weight source (file, cache, hash check) of a torchvision weight enum member."""
    return TorchvisionWeights(str(member), alias=alias)


def builder_of(member: Any) -> str:
    """torchvision's builder name for ``member``'s architecture: the one whose weights enum it is in."""
    return _builders_by_enum()[type(member)]


@lru_cache(maxsize=1)
def _builders_by_enum() -> dict[type, str]:
    return {torchvision.models.get_model_weights(name): name for name in torchvision.models.list_models()}


def zoo_facts(member: Any) -> str:
    """``"3.4 M parameters, 0.58 GFLOPs; COCO-val2017 box mAP 21.3."`` from the member's meta."""
    meta = member.meta
    size = f"{meta['num_params'] / 1e6:.1f} M parameters, {meta['_ops']:.3g} GFLOPs"
    scores = []
    for benchmark, values in meta.get("_metrics", {}).items():
        shown = [f"{METRIC_LABELS[name]} {values[name]:.1f}" for name in BENCHMARK_METRICS.get(benchmark, ()) if name in values]
        if shown:
            scores.append(f"{benchmark} " + ", ".join(shown))
    return size + ("; " + "; ".join(scores) if scores else "") + "."


def zoo_description(text: str, member: Any) -> str:
    """A spec's description: what the architecture does (``text``), then the member's own facts."""
    return f"{text} {zoo_facts(member)}"
