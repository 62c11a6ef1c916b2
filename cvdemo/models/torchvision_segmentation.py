"""torchvision's segmentation zoo: FCN, DeepLabV3, LR-ASPP (PASCAL VOC classes) and Mask R-CNN (COCO).

None of these files ships in a pip package, so they are "downloadable": ``python -m cvdemo
weights fetch NAME`` puts them in the torch.hub cache, and they are built here with
``weights=None`` and loaded from that file — never downloaded behind the user's back.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models import WeightsEnum
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights
from torchvision.models.segmentation import (
    DeepLabV3_MobileNet_V3_Large_Weights,
    DeepLabV3_ResNet50_Weights,
    FCN_ResNet50_Weights,
    LRASPP_MobileNet_V3_Large_Weights,
)

from cvdemo.device import autocast
from cvdemo.images import to_tensor
from cvdemo.models._zoo import builder_of, weights_source, zoo_description
from cvdemo.registry import ModelSpec, Task
from cvdemo.results import Detections, InstanceMasks, SegmentationInsight, SemanticMask

# Above this many output elements (classes × pixels) the full-size probability volume would
# cost more memory than the photo is worth (21 classes × 12 MP = 1 GB): such photos are
# segmented at a reduced size and the class map is scaled up, without probabilities.
MAX_PROBABILITY_ELEMENTS = 40_000_000


class TorchvisionSemanticSegmenter:
    """FCN / DeepLabV3 / LR-ASPP with the preprocessing their weights' metadata prescribe.

    The network returns logits already bilinearly upsampled to its input size (its final
    ``F.interpolate``); they are resized once more to the photo's size before the softmax.
    """

    def __init__(self, network: torch.nn.Module, weights_enum, device: torch.device, short_side: int | None = None):
        self.network = network.eval().to(device)
        self.device = device
        self.categories = tuple(weights_enum.meta["categories"])
        transform = weights_enum.transforms()
        self.short_side = int(short_side or list(transform.resize_size)[0])
        self.mean = torch.tensor(transform.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(transform.std, device=device).view(1, 3, 1, 1)

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        scale = self.short_side / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        tensor = to_tensor(image, self.device).unsqueeze(0).float().div_(255.0)
        size = self.network_size(*image.shape[:2])
        tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=True)
        return (tensor - self.mean) / self.std

    def logits(self, tensor: torch.Tensor) -> torch.Tensor:
        with autocast(self.device):
            return self.network(tensor)["out"].float()

    def postprocess(self, logits: torch.Tensor, image_size: tuple[int, int],
                    insight: SegmentationInsight | None = None) -> SemanticMask:
        height, width = image_size
        elements = len(self.categories) * height * width
        if elements <= MAX_PROBABILITY_ELEMENTS:
            full = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
            probabilities = torch.softmax(full[0], dim=0)
            classes = probabilities.argmax(dim=0).to(torch.uint8)
            return SemanticMask(classes.cpu().numpy(), self.categories, probabilities.cpu().numpy(), insight)
        shrink = (MAX_PROBABILITY_ELEMENTS / elements) ** 0.5
        reduced = F.interpolate(logits, size=(max(1, int(height * shrink)), max(1, int(width * shrink))),
                                mode="bilinear", align_corners=False)
        classes = reduced[0].argmax(dim=0, keepdim=True)[None].to(torch.uint8)
        classes = F.interpolate(classes, size=(height, width), mode="nearest")[0, 0]
        return SemanticMask(classes.cpu().numpy(), self.categories, None, insight)

    def segment(self, image: np.ndarray) -> SemanticMask:
        with torch.inference_mode():
            tensor = self.preprocess(image)
            logits = self.logits(tensor)
            return self.postprocess(logits, image.shape[:2], SegmentationInsight(network_input=(tensor.shape[-2], tensor.shape[-1])))


class TorchvisionMaskRCNN:
    """Mask R-CNN: per-instance boxes, scores, classes and masks; doubles as a ``Detector``.

    The network resizes internally (shorter side 800) and pastes each 28×28 mask back into the
    original image, so boxes and masks arrive in the photo's own pixels.
    """

    def __init__(self, network: torch.nn.Module, weights_enum, device: torch.device):
        self.network = network.eval().to(device)
        self.device = device
        self.categories = tuple(weights_enum.meta["categories"])

    def _run(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        with torch.inference_mode(), autocast(self.device):
            tensor = to_tensor(image, self.device).float().div_(255.0)
            return self.network([tensor])[0]

    def segment_instances(self, image: np.ndarray, score_threshold: float = 0.5, mask_threshold: float = 0.5) -> InstanceMasks:
        output = self._run(image)
        keep = output["scores"] >= score_threshold
        masks = output["masks"][keep][:, 0] >= mask_threshold
        return InstanceMasks(
            output["boxes"][keep].float().cpu().numpy(), output["scores"][keep].float().cpu().numpy(),
            output["labels"][keep].cpu().numpy(), self.categories, tuple(image.shape[:2]),
            masks=masks.cpu().numpy(),
        )

    def detect(self, image: np.ndarray, score_threshold: float = 0.3) -> Detections:
        output = self._run(image)
        keep = output["scores"] >= score_threshold
        return Detections(output["boxes"][keep].float().cpu().numpy(), output["scores"][keep].float().cpu().numpy(),
                          output["labels"][keep].cpu().numpy(), self.categories, tuple(image.shape[:2]))


def _semantic(name: str, title: str, member: WeightsEnum, *, rank: int, description: str, metadata: dict) -> ModelSpec:
    source = weights_source(member)
    builder_name = builder_of(member)

    def build(device: torch.device) -> TorchvisionSemanticSegmenter:
        state = source.state_dict()
        has_aux = any(key.startswith("aux_classifier.") for key in state)
        kwargs = {"aux_loss": has_aux} if builder_name != "lraspp_mobilenet_v3_large" else {}
        network = torchvision.models.get_model(
            builder_name, weights=None, weights_backbone=None, num_classes=len(member.meta["categories"]), **kwargs)
        network.load_state_dict(state)
        if has_aux:
            # The auxiliary head only adds a training loss; dropping it halves FCN's head cost.
            network.aux_classifier = None
        return TorchvisionSemanticSegmenter(network, member, device)

    return ModelSpec(
        name=name, title=title, task=Task.SEMANTIC_SEGMENTATION, builder=build, weights=(source,),
        categories=tuple(member.meta["categories"]), input_size=None, licence="BSD-3-Clause (torchvision)",
        description=zoo_description(description, member), family="semantic", offline_rank=rank,
        torchvision_builder=builder_name, zoo_weights=member, metadata=metadata,
    )


def _mask_rcnn() -> ModelSpec:
    member = MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1
    source = weights_source(member)

    def build(device: torch.device) -> TorchvisionMaskRCNN:
        # box_score_thresh 0.1: pasting up to 100 full-size masks of hopeless boxes costs
        # seconds on a CPU, and the page's threshold slider starts at 0.1.
        network = torchvision.models.get_model(
            builder_of(member), weights=None, weights_backbone=None, num_classes=len(member.meta["categories"]),
            box_score_thresh=0.1)
        network.load_state_dict(source.state_dict())
        return TorchvisionMaskRCNN(network, member, device)

    return ModelSpec(
        name="maskrcnn-resnet50", title="Mask R-CNN ResNet-50 FPN v2 (COCO instances)",
        task=Task.INSTANCE_SEGMENTATION, builder=build, weights=(source,), categories=tuple(member.meta["categories"]),
        licence="BSD-3-Clause (torchvision)", family="two-stage", offline_rank=50,
        description=zoo_description("Faster R-CNN plus a small FCN per region: RoIAlign features → a 28×28 mask per box "
                                    "and class.", member),
        torchvision_builder=builder_of(member), zoo_weights=member,
    )


SPECS = [
    _semantic("deeplabv3-resnet50", "DeepLabV3 ResNet-50 (VOC classes)",
              DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1, rank=40,
              description="Dilated ResNet-50 (output stride 8) and ASPP: atrous rates 12/24/36 plus image pooling.",
              metadata={"output_stride": 8, "atrous_rates": (12, 24, 36)}),
    _semantic("deeplabv3-mobilenet", "DeepLabV3 MobileNetV3-Large (VOC classes)",
              DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1, rank=45,
              description="DeepLabV3's ASPP on a light MobileNetV3 backbone (output stride 16).",
              metadata={"output_stride": 16, "atrous_rates": (12, 24, 36)}),
    _semantic("fcn-resnet50", "FCN-style ResNet-50, no skip fusion (VOC classes)",
              FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1, rank=55,
              description="Fully convolutional like Long et al.'s FCN, but without its skip fusion (no 16s/8s): a dilated "
                          "ResNet-50 (stride 8), a 3×3+1×1 head, one bilinear upsampling.",
              metadata={"output_stride": 8}),
    _semantic("lraspp-mobilenet", "LR-ASPP MobileNetV3-Large (VOC classes)",
              LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1, rank=48,
              description="Lite R-ASPP: a squeeze-and-excite style global branch at stride 16 plus a stride-8 skip.",
              metadata={"output_stride": 16}),
    _mask_rcnn(),
]
