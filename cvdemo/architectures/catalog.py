"""The networks of the lectures, how to build them without weights, and the figures quoted for them.

``Seed`` figures are what slides and papers say; the table puts them beside what we count on
torchvision's builders, and ``Network.note`` says why the two differ where they do. Paper FLOP
figures are almost always multiply-accumulates ("mult-adds"), so they are compared with our MACs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class Seed:
    quantity: str  # "params", "macs" or "depth"
    value: float
    source: str


@dataclass(frozen=True)
class Network:
    name: str
    title: str
    year: int
    idea: str  # what the architecture is known for, in one line
    original_weights: str | None = None  # weights enum of the original training recipe
    best_weights: str | None = None  # torchvision's best weights for this builder, when different
    builder_kwargs: dict = field(default_factory=dict, hash=False, compare=False)
    input_size: int = 224  # the resolution the weights were evaluated at
    fixed_input: bool = False  # one input size only: dense layers without adaptive pooling, ViT's position embeddings
    seeds: tuple[Seed, ...] = ()
    note: str = ""  # why our counts differ from the seed figures
    custom_builder: Callable[[], nn.Module] | None = field(default=None, hash=False, compare=False)

    def build(self, device: torch.device | str = "meta") -> nn.Module:
        """The network with random (or, on the meta device, no) weights, in eval mode."""
        import torchvision

        with torch.device(device):
            if self.custom_builder is not None:
                network = self.custom_builder()
            else:
                network = torchvision.models.get_model(self.name, weights=None, **self.builder_kwargs)
        return network.eval()

    @property
    def has_weights(self) -> bool:
        return self.original_weights is not None


class AlexNet2012(nn.Module):
    """AlexNet as in Krizhevsky et al. (2012): 227×227 input, 96-256-384-384-256 kernels, local
    response normalisation, and conv2/4/5 split in two groups (one per GPU of the time).

    torchvision's ``alexnet`` is the later single-GPU variant (64-192-384-256-256, no grouping,
    no LRN), which is why its counts differ from the paper's; this class makes the difference
    measurable. No weights exist for it.
    """

    def __init__(self, num_classes: int = 1000, groups: int = 2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),  # the one layer that crossed GPUs
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


LECTURE = "lecture slides"
RESNET_PAPER = "He et al. 2016 (ResNet), Table 1 / §4"

NETWORKS: tuple[Network, ...] = (
    Network(
        "alexnet", "AlexNet", 2012, "ReLU, dropout, big 11×11 stride-4 stem; ~96% of parameters in the dense layers",
        "AlexNet_Weights.IMAGENET1K_V1",
        seeds=(Seed("params", 60e6, LECTURE), Seed("macs", 832e6, LECTURE + " (\"832 M FLOPs\", mult-adds)"),
               Seed("depth", 8, "Krizhevsky et al. 2012: 5 conv + 3 dense")),
        note="torchvision's AlexNet is the single-GPU variant of Krizhevsky's 2014 \"one weird trick\" paper "
             "(64-192-384-256-256 kernels, no grouping, no LRN): 61.1 M parameters, 0.71 G mult-adds at 224×224. "
             "The 2012 two-GPU network (row alexnet_2012) has 61.0 M parameters and ~0.72 G mult-adds at 227×227; "
             "the 832 M slide figure is above both conv+dense MAC counts — published AlexNet op counts differ "
             "by input size (224/227), grouping, and whether pooling, LRN and activations are counted. "
             "Either way ~96% of the parameters sit in the three dense layers.",
    ),
    Network(
        "alexnet_2012", "AlexNet (2012, two-GPU)", 2012, "the original: grouped conv2/4/5, LRN, 227×227 input",
        None, input_size=227, fixed_input=True, custom_builder=AlexNet2012,
        seeds=(Seed("params", 60e6, LECTURE), Seed("macs", 832e6, LECTURE + " (mult-adds)"), Seed("depth", 8, "Krizhevsky et al. 2012")),
        note="Built by cvdemo from the 2012 paper (no weights exist in torchvision). Grouping halves conv2/4/5: "
             "without it the same layers would need ~1.14 G mult-adds.",
    ),
    Network("vgg11", "VGG-11", 2014, "only 3×3 convolutions, doubled channels after each pooling",
            "VGG11_Weights.IMAGENET1K_V1", seeds=(Seed("params", 133e6, LECTURE + " (VGG 133–144 M)"), Seed("depth", 11, "Simonyan & Zisserman 2015"))),
    Network("vgg16", "VGG-16", 2014, "two or three 3×3 convs see as far as one 5×5/7×7, with fewer weights",
            "VGG16_Weights.IMAGENET1K_V1",
            seeds=(Seed("params", 138e6, LECTURE), Seed("macs", 15.3e9, RESNET_PAPER), Seed("depth", 16, "Simonyan & Zisserman 2015")),
            note="The ResNet paper's 15.3 G 'FLOPs' are mult-adds; 15.5 G here. 124 M of the 138 M parameters are in the dense layers."),
    Network("vgg19", "VGG-19", 2014, "the deepest VGG; accuracy saturates",
            "VGG19_Weights.IMAGENET1K_V1",
            seeds=(Seed("params", 144e6, LECTURE + " (VGG 133–144 M)"), Seed("macs", 19.6e9, RESNET_PAPER), Seed("depth", 19, "Simonyan & Zisserman 2015"))),
    Network("googlenet", "GoogLeNet (Inception v1)", 2014, "Inception modules: parallel 1×1/3×3/5×5/pool branches, 1×1 bottlenecks, global average pooling",
            "GoogLeNet_Weights.IMAGENET1K_V1", builder_kwargs={"aux_logits": False, "init_weights": False},
            seeds=(Seed("params", 5e6, "Szegedy et al. 2015 (\"12× fewer parameters than AlexNet\")"),
                   Seed("macs", 1.5e9, "Szegedy et al. 2015 (\"budget of 1.5 billion multiply-adds\")"),
                   Seed("depth", 22, "Szegedy et al. 2015 (\"22 layers deep\")")),
            note="torchvision's GoogLeNet adds batch normalisation and, by a known quirk, uses 3×3 instead of 5×5 in "
                 "the '5×5' branch; its 6.6 M parameters include the 1 M of the final dense layer. The training-only "
                 "auxiliary classifiers are left out, as in torchvision's pretrained model."),
    Network("inception_v3", "Inception v3", 2015, "factorised convolutions (n×1 + 1×n), wider modules, 299×299 input",
            "Inception_V3_Weights.IMAGENET1K_V1", builder_kwargs={"init_weights": False}, input_size=299,
            seeds=(Seed("params", 25e6, "Szegedy et al. 2016 (\"less than 25 million parameters\")"),
                   Seed("macs", 5e9, "Szegedy et al. 2016 (\"5 billion multiply-adds\", at 299×299)"),
                   Seed("depth", 42, "Szegedy et al. 2016 (\"42 layers deep\")")),
            note="The 27.2 M parameters include the 3.3 M of the auxiliary classifier, used only in training "
                 "(23.8 M at inference). The paper's '5 billion multiply-adds' is a round figure for its own variant; "
                 "torchvision's metadata gives 5.71 G, as counted here. Our depth counts each factorised n×1 and 1×n "
                 "convolution as its own layer."),
    Network("resnet18", "ResNet-18", 2015, "residual blocks: y = F(x) + x lets gradients skip layers",
            "ResNet18_Weights.IMAGENET1K_V1", seeds=(Seed("macs", 1.8e9, RESNET_PAPER), Seed("depth", 18, RESNET_PAPER))),
    Network("resnet50", "ResNet-50", 2015, "bottleneck blocks: 1×1 reduce, 3×3, 1×1 expand",
            "ResNet50_Weights.IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V2",
            seeds=(Seed("params", 25.6e6, "torchvision / Keras docs"), Seed("macs", 3.8e9, RESNET_PAPER), Seed("depth", 50, RESNET_PAPER)),
            note="torchvision puts the stride-2 in the 3×3 rather than the first 1×1 of a downsampling bottleneck (ResNet v1.5): "
                 "slightly more mult-adds (4.1 G) than the paper's 3.8 G, and +0.5% accuracy."),
    Network("resnet152", "ResNet-152", 2015, "152 layers deep and still cheaper than VGG",
            "ResNet152_Weights.IMAGENET1K_V1", "ResNet152_Weights.IMAGENET1K_V2",
            seeds=(Seed("depth", 152, LECTURE), Seed("macs", 11.3e9, RESNET_PAPER)),
            note="152 counts the layers on the main path; the four 1×1 projection shortcuts make 156 weighted layers. "
                 "v1.5 stride placement adds ~2% mult-adds."),
    Network("densenet121", "DenseNet-121", 2017, "every layer gets all earlier feature maps (concatenation)",
            "DenseNet121_Weights.IMAGENET1K_V1", seeds=(Seed("depth", 121, "Huang et al. 2017"),)),
    Network("squeezenet1_1", "SqueezeNet 1.1", 2016, "fire modules: 1×1 squeeze, then 1×1 + 3×3 expand; no dense layer",
            "SqueezeNet1_1_Weights.IMAGENET1K_V1"),
    Network("mobilenet_v2", "MobileNetV2", 2018, "depthwise separable convolutions in inverted residuals with linear bottlenecks",
            "MobileNet_V2_Weights.IMAGENET1K_V1", "MobileNet_V2_Weights.IMAGENET1K_V2",
            seeds=(Seed("params", 3.4e6, "Sandler et al. 2018"), Seed("macs", 300e6, "Sandler et al. 2018 (MAdds)"))),
    Network("mobilenet_v3_small", "MobileNetV3-Small", 2019, "architecture search, squeeze-and-excitation, hard-swish",
            "MobileNet_V3_Small_Weights.IMAGENET1K_V1",
            seeds=(Seed("params", 2.5e6, "Howard et al. 2019"), Seed("macs", 56e6, "Howard et al. 2019 (MAdds)"))),
    Network("mobilenet_v3_large", "MobileNetV3-Large", 2019, "architecture search, squeeze-and-excitation, hard-swish",
            "MobileNet_V3_Large_Weights.IMAGENET1K_V1", "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
            seeds=(Seed("params", 5.4e6, "Howard et al. 2019"), Seed("macs", 219e6, "Howard et al. 2019 (MAdds)"))),
    Network("shufflenet_v2_x1_0", "ShuffleNetV2 1.0×", 2018, "channel split and shuffle instead of dense 1×1 convolutions",
            "ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1"),
    Network("efficientnet_b0", "EfficientNet-B0", 2019, "MBConv blocks with SE, depth/width/resolution scaled together",
            "EfficientNet_B0_Weights.IMAGENET1K_V1",
            seeds=(Seed("params", 5.3e6, "Tan & Le 2019"), Seed("macs", 0.39e9, "Tan & Le 2019 (\"FLOPs\" = mult-adds)"))),
    Network("convnext_tiny", "ConvNeXt-T", 2022, "a ResNet modernised like a transformer: 7×7 depthwise, LayerNorm, inverted MLP "
            "(its 1×1 convolutions are written as dense layers on channels-last maps, hence the 'dense' share)",
            "ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
            seeds=(Seed("params", 28e6, "Liu et al. 2022"), Seed("macs", 4.5e9, "Liu et al. 2022 (FLOPs = mult-adds)"))),
    Network("vit_b_16", "ViT-B/16", 2020, "no convolutions after the 16×16 patch embedding: self-attention on tokens",
            "ViT_B_16_Weights.IMAGENET1K_V1", fixed_input=True, seeds=(Seed("params", 86e6, "Dosovitskiy et al. 2021"),),
            note="Receptive fields are global from the first attention layer on."),
)

BY_NAME = {network.name: network for network in NETWORKS}


def get(name: str) -> Network:
    if name not in BY_NAME:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]
