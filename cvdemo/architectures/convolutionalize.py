"""Convolutionalization: a classifier's dense head rewritten as convolutions (Long et al., FCN).

A dense layer on a flattened C×k×k map *is* a k×k convolution with C input channels, and every
later dense layer is a 1×1 convolution; the weights are the same numbers, only viewed in another
shape (here literally: the convolution weights are views of the dense weights). At the training
size the network gives the same one label; on a larger image the same weights slide over it and
give a map of class scores instead.

Two kinds of head are handled:

* AlexNet/VGG: ``features`` → adaptive pooling to k×k → dense layers (:class:`DenseHeadAsConv`);
* global average pooling followed by one dense layer — MobileNet, ResNet, EfficientNet,
  GoogLeNet, DenseNet (:class:`PooledHeadAsConv`). The dense layer becomes a 1×1 convolution
  *before* the pooling; averaging its output map gives back the original logits exactly
  (a linear map commutes with the average), and the map itself is a class activation map.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from cvdemo.architectures.graph import trace, truncate
from cvdemo.device import full_fp32_convolutions


def _conv_from_linear(linear: nn.Linear, in_channels: int, kernel: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, linear.out_features, kernel, bias=linear.bias is not None,
                     device="meta")
    # Views of the dense weights (flatten order is C, H, W): same storage, nothing copied.
    conv.weight = nn.Parameter(linear.weight.detach().view(linear.out_features, in_channels, kernel, kernel), requires_grad=False)
    if linear.bias is not None:
        conv.bias = nn.Parameter(linear.bias.detach(), requires_grad=False)
    return conv


class DenseHeadAsConv(nn.Module):
    """AlexNet/VGG with ``classifier``'s dense layers as k×k and 1×1 convolutions.

    Output: (N, classes, h, w) with h = w = 1 at the training size.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        pool = getattr(network, "avgpool", None)
        classifier = getattr(network, "classifier", None)
        if not hasattr(network, "features") or not isinstance(classifier, nn.Sequential):
            raise TypeError("expected an AlexNet/VGG-style network with .features and a Sequential .classifier")
        size = pool.output_size if isinstance(pool, nn.AdaptiveAvgPool2d) else None
        kernel = size if isinstance(size, int) else (size[0] if size else None)
        self.features = network.get_submodule("features")
        layers: list[nn.Module] = []
        channels = None
        for module in classifier:
            if isinstance(module, nn.Linear):
                if channels is None:
                    if kernel is None:
                        raise TypeError("cannot tell the map size the first dense layer expects")
                    channels = module.in_features // (kernel * kernel)
                    layers.append(_conv_from_linear(module, channels, kernel))
                else:
                    layers.append(_conv_from_linear(module, module.in_features, 1))
                channels = module.out_features
            else:
                layers.append(module)  # ReLU and dropout work on maps as they do on vectors
        self.kernel = kernel
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


_PASS_THROUGH_MODULES = (nn.Dropout, nn.Identity, nn.Flatten)
_PASS_THROUGH_FUNCTIONS = {torch.flatten, F.dropout, torch.squeeze}
_PASS_THROUGH_METHODS = {"flatten", "view", "reshape", "squeeze"}


def _is_global_pool(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))  # a call_module target is the module's qualified name
        return isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1), [1, 1])
    if node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        return size in (1, (1, 1), [1, 1])
    if (node.op == "call_method" and node.target == "mean") or (node.op == "call_function" and node.target is torch.mean):
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        dims = [dim] if isinstance(dim, int) else list(dim) if isinstance(dim, (list, tuple)) else []
        return {d % 4 for d in dims if isinstance(d, int)} == {2, 3}
    return False


def _passes_through(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), _PASS_THROUGH_MODULES)
    if node.op == "call_function":
        return node.target in _PASS_THROUGH_FUNCTIONS
    return node.op == "call_method" and node.target in _PASS_THROUGH_METHODS


@dataclass
class PooledHead:
    trunk_layer: str  # qualified name of the last spatial feature map
    linear: nn.Linear


def find_pooled_head(network: nn.Module) -> PooledHead:
    """Locate "feature map → global average pool → (flatten/dropout) → one dense layer → output".

    Raises TypeError for heads with several dense layers (MobileNetV3, VGG): there the average
    does not commute with the non-linearity between them.
    """
    gm, names = trace(network)
    output = next(n for n in gm.graph.nodes if n.op == "output")
    node = output.args[0]
    if isinstance(node, (tuple, list)):
        node = node[0]
    if not (isinstance(node, fx.Node) and node.op == "call_module" and isinstance(gm.get_submodule(str(node.target)), nn.Linear)):
        raise TypeError("the network does not end in a dense layer")
    linear = network.get_submodule(str(node.target))
    if not isinstance(linear, nn.Linear):
        raise TypeError("the network does not end in a dense layer")
    current = node.args[0]
    while isinstance(current, fx.Node) and _passes_through(gm, current):
        current = current.args[0]
    if not (isinstance(current, fx.Node) and _is_global_pool(gm, current) and isinstance(current.args[0], fx.Node)):
        raise TypeError("the dense layer is not fed by global average pooling (one dense layer after the pooling is needed)")
    return PooledHead(names[current.args[0]], linear)


class PooledHeadAsConv(nn.Module):
    """Trunk → 1×1 convolution with the dense layer's weights → class score map.

    ``forward`` returns the (N, classes, h, w) map; ``map.mean((2, 3))`` equals the original
    network's logits at any input size.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        head = find_pooled_head(network)
        self.trunk = truncate(network, head.trunk_layer)
        self.trunk_layer = head.trunk_layer
        self.head = _conv_from_linear(head.linear, head.linear.in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


_twins: "weakref.WeakKeyDictionary[nn.Module, DenseHeadAsConv | PooledHeadAsConv]" = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()


def convolutionalize(network: nn.Module, cache: bool = False) -> DenseHeadAsConv | PooledHeadAsConv:
    """The fully convolutional twin of ``network`` (sharing its weights).

    ``cache=True`` keeps the twin for as long as ``network`` lives: tracing costs more than a
    forward pass on a GPU, and shared (server-wide) models are convolutionalized again and again.
    """
    if cache:
        with _twins_lock:
            twin = _twins.get(network)
        if twin is None:
            twin = convolutionalize(network).eval()
            with _twins_lock:
                _twins[network] = twin
        return twin
    classifier = getattr(network, "classifier", None)
    if hasattr(network, "features") and isinstance(classifier, nn.Sequential) \
            and sum(isinstance(m, nn.Linear) for m in classifier) > 1:
        return DenseHeadAsConv(network)
    return PooledHeadAsConv(network)


def logits_from_map(score_map: torch.Tensor, fcn: nn.Module) -> torch.Tensor:
    """What the original network would output: the map itself (1×1) for AlexNet/VGG at the
    training size, the spatial average for pooled heads."""
    if isinstance(fcn, PooledHeadAsConv):
        return score_map.mean((2, 3))
    return score_map.flatten(2).mean(2)


@dataclass
class EqualityCheck:
    max_abs_difference: float
    original_shape: tuple[int, ...]
    map_shape: tuple[int, ...]
    larger_map_shape: tuple[int, ...]
    larger_size: int

    @property
    def equal(self) -> bool:
        return self.max_abs_difference <= 1e-4


def check_equal(network: nn.Module, size: int = 224, larger: int = 384, seed: int = 0,
                device: torch.device | str = "cpu") -> EqualityCheck:
    """Run both versions on the same random image at ``size``; report the largest difference,
    and the shape of the map on a ``larger`` image."""
    network = network.eval()
    fcn = convolutionalize(network).eval()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 3, size, size, generator=generator).to(device)
    # cuDNN may run convolutions in TF32 (10-bit mantissa) while dense layers stay FP32: that
    # rounding, not the rewrite, would differ by ~1e-3. Compare in full FP32.
    full_fp32_convolutions()
    with torch.inference_mode():
        original = network(x)
        score_map = fcn(x)
        larger_map = fcn(torch.randn(1, 3, larger, larger, generator=generator).to(device))
    recovered = logits_from_map(score_map, fcn)
    return EqualityCheck(float((original - recovered).abs().max()), tuple(original.shape), tuple(score_map.shape),
                         tuple(larger_map.shape), larger)


@dataclass
class ClassMap:
    """Class scores at every position of a fully convolutional run over a whole photo."""

    logits: np.ndarray  # (classes, h, w)
    categories: tuple[str, ...]
    image_size: tuple[int, int]  # (height, width) of the photo
    input_size: tuple[int, int]  # (height, width) the network saw

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax over classes at each position: what a per-position classifier would say."""
        shifted = self.logits - self.logits.max(0, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(0, keepdims=True)

    @property
    def global_logits(self) -> np.ndarray:
        return self.logits.reshape(self.logits.shape[0], -1).mean(1)

    def top_classes(self, k: int = 5) -> list[tuple[int, str, float]]:
        logits = self.global_logits
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        order = np.argsort(-probs)[:k]
        return [(int(i), self.categories[i], float(probs[i])) for i in order]

    def heatmap(self, class_index: int, kind: str = "probability") -> np.ndarray:
        """(h, w) map for one class: per-position probability, or the raw score (a CAM)."""
        if kind == "probability":
            return self.probabilities[class_index]
        return self.logits[class_index]


def class_map(classifier, image: np.ndarray, short_side: int = 448) -> ClassMap:
    """Run ``classifier`` (a :class:`~cvdemo.models.classifiers.TorchvisionClassifier`) fully
    convolutionally on ``image`` resized so its shorter side is ``short_side`` (no crop)."""
    from torchvision.transforms.v2 import functional as TF

    from cvdemo.images import to_tensor

    fcn = convolutionalize(classifier.network, cache=True)
    tensor = to_tensor(image, classifier.device)
    interpolation = getattr(classifier, "interpolation", TF.InterpolationMode.BILINEAR)
    tensor = TF.resize(tensor, [short_side], interpolation=interpolation, antialias=True)
    x = (tensor.unsqueeze(0).float().div_(255.0) - classifier.mean) / classifier.std
    with torch.inference_mode():
        logits = fcn(x)[0].float().cpu().numpy()
    return ClassMap(logits, tuple(classifier.categories), tuple(image.shape[:2]), tuple(x.shape[-2:]))


def describe_conversion(network: nn.Module) -> list[dict]:
    """Dense layer → convolution, with the shapes of the same weights before and after."""
    fcn = convolutionalize(network)
    rows = []
    if isinstance(fcn, DenseHeadAsConv):
        classifier = getattr(network, "classifier", None)
        assert isinstance(classifier, nn.Sequential)  # DenseHeadAsConv accepts only a Sequential classifier
        linears = [m for m in classifier if isinstance(m, nn.Linear)]
        convs = [m for m in fcn.head if isinstance(m, nn.Conv2d)]
    else:
        linears = [find_pooled_head(network).linear]
        convs = [fcn.head]
    for linear, conv in zip(linears, convs):
        rows.append({
            "dense layer": f"Linear({linear.in_features} → {linear.out_features})",
            "dense weight": "×".join(map(str, linear.weight.shape)),
            "convolution": f"Conv2d({conv.in_channels} → {conv.out_channels}, {conv.kernel_size[0]}×{conv.kernel_size[1]})",
            "conv weight": "×".join(map(str, conv.weight.shape)),
            "parameters": linear.weight.numel() + (linear.bias.numel() if linear.bias is not None else 0),
            "shares storage": conv.weight.data_ptr() == linear.weight.data_ptr() if linear.weight.device.type != "meta" else True,
        })
    return rows
