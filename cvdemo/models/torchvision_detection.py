"""COCO detectors from the torchvision zoo: one-stage (SSDlite, RetinaNet, FCOS) and two-stage
(Faster R-CNN), with what the lectures want to see inside them.

The zoo files need internet once (``python -m cvdemo weights fetch NAME``). Each network is built
with ``weights=None, weights_backbone=None`` and then gets the full detector state dict, so no
backbone download is ever attempted.

To show NMS at work, every network is built with its NMS switched off (IoU threshold 1.0, no
cap on the number of boxes): it returns the boxes *before* NMS, which the wrapper keeps as
``insight.candidates`` and then suppresses itself with the model's own NMS threshold and cap.
IoU is unchanged by the axis-aligned rescaling to original pixels, so the final boxes are the
ones torchvision would have returned. Forward hooks registered once, at build time, record per
thread the resize the transform applied, the head's per-level class scores (one-stage models,
``insight.levels``) and the region proposals of the RPN (two-stage, ``insight.proposals``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from torchvision.models import WeightsEnum
from torchvision.models.detection import (
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    FasterRCNN_ResNet50_FPN_V2_Weights,
    FCOS_ResNet50_FPN_Weights,
    RetinaNet_ResNet50_FPN_V2_Weights,
    SSDLite320_MobileNet_V3_Large_Weights,
)
from torchvision.ops.misc import FrozenBatchNorm2d

from cvdemo.detection.boxes import apply_nms
from cvdemo.device import autocast
from cvdemo.images import to_tensor
from cvdemo.models._zoo import builder_of, weights_source, zoo_description
from cvdemo.registry import ModelSpec, Task
from cvdemo.results import DetectionInsight, Detections, HeadLevel

# Boxes scoring below this are not kept even as NMS candidates. It is the floor of the page's
# score slider: raising the models' own floors (0.001 for SSDlite) to it changes nothing above it,
# because NMS only lets a box suppress lower-scoring ones and the caps keep the best boxes.
CANDIDATE_FLOOR = 0.05
NO_CAP = 100_000


@dataclass(frozen=True)
class ZooDetector:
    """How one torchvision builder is set up, and what it defaults to."""

    name: str
    title: str
    weights: WeightsEnum  # torchvision's member for the trained detector
    family: str
    head: str  # "ssd", "retinanet", "fcos" (per-level class scores) or "rcnn" (RPN proposals)
    nms_threshold: float  # the model's own NMS IoU threshold
    max_detections: int  # the model's own cap after NMS
    frozen_bn: bool  # the trained builder swaps BatchNorm for FrozenBatchNorm2d in the backbone
    description: str
    rank: int
    input_size: tuple[int, int] | None = None

    @property
    def builder(self) -> str:
        return builder_of(self.weights)

    def builder_kwargs(self) -> dict:
        if self.head == "rcnn":
            return {"box_nms_thresh": 1.0, "box_detections_per_img": NO_CAP, "box_score_thresh": CANDIDATE_FLOOR}
        floor = max(CANDIDATE_FLOOR, 0.2) if self.head == "fcos" else CANDIDATE_FLOOR  # FCOS's own floor is 0.2
        return {"nms_thresh": 1.0, "detections_per_img": NO_CAP, "score_thresh": floor}


def freeze_batch_norm(module: torch.nn.Module) -> torch.nn.Module:
    """Replace every BatchNorm2d by FrozenBatchNorm2d, as torchvision does when building trained models.

    The buffers match the zoo files' keys (no ``num_batches_tracked``) and the arithmetic is the
    same in eval mode.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            freeze_batch_norm(child)
    return module


def build_network(config: ZooDetector) -> torch.nn.Module:
    """The architecture with random weights (the registry's builder loads the real ones)."""
    network = getattr(torchvision.models.detection, config.builder)(weights=None, weights_backbone=None, **config.builder_kwargs())
    if config.frozen_bn:
        freeze_batch_norm(network)
    return network.eval()


class TorchvisionDetector:
    """Detector protocol over a torchvision detection network (see the module docstring)."""

    def __init__(self, network: torch.nn.Module, config: ZooDetector, categories: tuple[str, ...], device: torch.device):
        self.network = network.eval().to(device)
        self.device = device
        self.config = config
        self.categories = tuple(categories)
        self.nms_threshold = config.nms_threshold
        self.max_detections = config.max_detections
        self._local = threading.local()
        self._register_hooks()

    # -- hooks: write into the calling thread's slot only while detect() is running there
    def _slot(self):
        return getattr(self._local, "capture", None)

    def _register_hooks(self) -> None:
        network = self.network

        def on_transform(module, inputs, output):
            slot = self._slot()
            if slot is not None:
                image_list = output[0]
                slot["resized"] = tuple(int(v) for v in image_list.image_sizes[0])
                slot["padded"] = tuple(int(v) for v in image_list.tensors.shape[-2:])

        def recorder(key):
            def hook(module, inputs, output):
                slot = self._slot()
                if slot is not None:
                    slot.setdefault(key, []).append(output.detach())
            return hook

        def on_rpn(module, inputs, output):
            slot = self._slot()
            if slot is not None:
                slot["proposals"] = output[0][0].detach()

        modules = dict(network.named_modules())
        modules["transform"].register_forward_hook(on_transform)
        head = self.config.head
        if head == "ssd":
            for block in modules["head.classification_head.module_list"].children():
                block.register_forward_hook(recorder("cls"))
        elif head == "retinanet":
            modules["head.classification_head.cls_logits"].register_forward_hook(recorder("cls"))
        elif head == "fcos":
            modules["head.classification_head.cls_logits"].register_forward_hook(recorder("cls"))
            modules["head.regression_head.bbox_ctrness"].register_forward_hook(recorder("ctr"))
        elif head == "rcnn":
            modules["rpn"].register_forward_hook(on_rpn)

    def detect(self, image: np.ndarray, score_threshold: float = 0.3) -> Detections:
        height, width = image.shape[:2]
        self._local.capture = {}
        try:
            with torch.inference_mode(), autocast(self.device):
                tensor = to_tensor(image, self.device).float().div_(255.0)
                output = self.network([tensor])[0]
                slot = self._local.capture
                levels = self._levels(slot, height, width)
                proposals = self._proposals(slot, height, width)
            boxes = output["boxes"].float().cpu().numpy()
            scores = output["scores"].float().cpu().numpy()
            labels = output["labels"].cpu().numpy()
        finally:
            self._local.capture = None
        candidates = Detections(boxes, scores, labels, self.categories, (height, width))
        kept = apply_nms(candidates, self.nms_threshold, class_aware=True, max_detections=self.max_detections)
        result = kept.filter(score_threshold)
        result.insight = DetectionInsight(candidates=candidates, nms_threshold=self.nms_threshold,
                                          max_detections=self.max_detections, class_aware_nms=True,
                                          input_size=slot.get("resized"), levels=tuple(levels or ()),
                                          proposals=proposals)
        return result

    def _scale(self, slot: dict, height: int, width: int) -> tuple[float, float]:
        resized_h, resized_w = slot.get("resized", (height, width))
        return resized_w / width, resized_h / height

    def _levels(self, slot: dict, height: int, width: int) -> list[HeadLevel]:
        outputs = slot.get("cls")
        if not outputs:
            return []
        sx, sy = self._scale(slot, height, width)
        padded_h, padded_w = slot.get("padded", slot.get("resized", (height, width)))
        num_classes = len(self.categories)
        levels = []
        for index, logits in enumerate(outputs):
            logits = logits[0].float()
            h, w = logits.shape[-2:]
            per_anchor = logits.view(-1, num_classes, h, w)  # channels are (anchor, class)
            objectness = None
            raw = None
            if self.config.head == "ssd":
                probabilities = torch.softmax(per_anchor, dim=1)
                scores = probabilities.amax(dim=0)
                objectness = (1.0 - probabilities[:, 0]).amax(dim=0)  # class 0 is background
                raw = logits.half().cpu().numpy()
            elif self.config.head == "fcos":
                centerness = torch.sigmoid(slot["ctr"][index][0, 0].float())
                scores = torch.sqrt(torch.sigmoid(per_anchor[0]) * centerness)  # FCOS's own ranking score
                objectness = centerness
            else:
                scores = torch.sigmoid(per_anchor).amax(dim=0)
            stride = int(round(padded_w / w))
            levels.append(HeadLevel(
                name=f"stride {stride} ({h}×{w})", stride=stride, class_scores=scores.cpu().numpy(),
                objectness=None if objectness is None else objectness.cpu().numpy(), raw=raw,
                scale=sx, scale_xy=(sx, sy), pad=(0.0, 0.0),
            ))
        return levels

    def _proposals(self, slot: dict, height: int, width: int) -> np.ndarray | None:
        proposals = slot.get("proposals")
        if proposals is None:
            return None
        sx, sy = self._scale(slot, height, width)
        return (proposals.float().cpu().numpy() / np.array([sx, sy, sx, sy], dtype=np.float32)).astype(np.float32)


CONFIGS = (
    ZooDetector(
        "ssdlite320", "SSDlite320 · MobileNetV3", SSDLite320_MobileNet_V3_Large_Weights.COCO_V1,
        "one-stage", "ssd", 0.55, 300, frozen_bn=False, rank=30, input_size=(320, 320),
        description="Single-shot detector on six feature maps (20×20 … 1×1) with 6 default boxes per cell; "
                    "the image is stretched to 320×320.",
    ),
    ZooDetector(
        "retinanet", "RetinaNet · ResNet-50-FPN v2", RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1,
        "one-stage", "retinanet", 0.5, 300, frozen_bn=False, rank=60,
        description="Dense one-stage detector on an FPN (strides 8–128, 9 anchors per cell) trained with the focal "
                    "loss so the many easy background boxes do not swamp training.",
    ),
    ZooDetector(
        "fcos", "FCOS · ResNet-50-FPN", FCOS_ResNet50_FPN_Weights.COCO_V1,
        "one-stage", "fcos", 0.6, 100, frozen_bn=True, rank=65,
        description="Anchor-free one-stage detector: each FPN cell predicts distances to the four box sides and a "
                    "centre-ness score.",
    ),
    ZooDetector(
        "fasterrcnn-mobilenet-320", "Faster R-CNN · MobileNetV3-320-FPN",
        FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1, "two-stage", "rcnn", 0.5, 100, frozen_bn=True, rank=40,
        description="Two-stage: a region proposal network suggests boxes, RoI Align pools each one, a head classifies "
                    "and refines it. Low-resolution (shorter side 320) mobile variant.",
    ),
    ZooDetector(
        "fasterrcnn-mobilenet", "Faster R-CNN · MobileNetV3-FPN",
        FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1, "two-stage", "rcnn", 0.5, 100, frozen_bn=True, rank=50,
        description="The same two-stage design on a MobileNetV3 backbone at full resolution (shorter side 800).",
    ),
    ZooDetector(
        "fasterrcnn-resnet50", "Faster R-CNN · ResNet-50-FPN v2",
        FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1, "two-stage", "rcnn", 0.5, 100, frozen_bn=False, rank=70,
        description="The accurate two-stage reference: ResNet-50 with FPN, 1000 RPN proposals, a 4-conv + FC box "
                    "head; seconds per image on a CPU.",
    ),
)


def _spec(config: ZooDetector) -> ModelSpec:
    source = weights_source(config.weights)
    categories = tuple(config.weights.meta["categories"])

    def build(device: torch.device) -> TorchvisionDetector:
        network = build_network(config)
        network.load_state_dict(source.state_dict())
        return TorchvisionDetector(network, config, categories, device)

    return ModelSpec(
        name=config.name,
        title=config.title,
        task=Task.DETECTION,
        builder=build,
        weights=(source,),
        categories=categories,
        input_size=config.input_size,
        licence="BSD-3-Clause (torchvision); trained on COCO (CC BY 4.0 annotations)",
        description=zoo_description(config.description, config.weights),
        family=config.family,
        offline_rank=config.rank,
        torchvision_builder=config.builder,
        zoo_weights=config.weights,
        metadata={"nms_threshold": config.nms_threshold},
    )


SPECS = [_spec(config) for config in CONFIGS]
