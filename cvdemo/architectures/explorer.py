"""Helpers for looking at one network on one photo: input framing, weights, effective fields."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from cvdemo.architectures.catalog import Network
from cvdemo.architectures.graph import gradient_field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def fit_to_input(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` and crop the centre square: what the network sees."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    resized = Image.fromarray(image).resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BILINEAR)
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


def normalise(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(1, 3, H, W) float tensor with ImageNet normalisation."""
    tensor = torch.tensor(image).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((tensor - mean) / std).unsqueeze(0).to(device)


def weights_ready(spec: Network) -> bool:
    if not spec.original_weights:
        return False
    from cvdemo.weights import TorchvisionWeights

    return TorchvisionWeights(spec.original_weights).locate() is not None


def load_network(spec: Network, device: torch.device | str = "cpu", prefer_real: bool = True, seed: int = 0) -> tuple[nn.Module, bool]:
    """(network in eval mode, whether its weights are the real ImageNet ones).

    Without downloaded weights the network is randomly initialised with ``seed``: fine for
    structure (shapes, fields, convolutionalization equality), meaningless for predictions.
    """
    from cvdemo.weights import TorchvisionWeights

    with torch.random.fork_rng(devices=[]):  # the server's other sessions keep their random state
        torch.manual_seed(seed)
        network = spec.build("cpu")
    real = False
    if prefer_real and spec.original_weights and weights_ready(spec):
        state = TorchvisionWeights(spec.original_weights).state_dict()
        # GoogLeNet/Inception checkpoints include the auxiliary classifiers the builder left out.
        network.load_state_dict(state, strict=not any(k.startswith(("aux1", "aux2")) for k in state))
        real = True
    return network.to(device).eval(), real


def effective_field(network: nn.Module, layer: str, row: int, col: int, image: np.ndarray | None, size: int) -> np.ndarray:
    """|∂ unit / ∂ input| on ``image`` (already ``size``×``size``), as a float (H, W) array in [0, 1]."""
    device = next(network.parameters()).device
    x = normalise(image, device) if image is not None else None
    grad = gradient_field(network, layer, row, col, (size, size), x).float().cpu().numpy()
    top = float(grad.max())
    return grad / top if top > 0 else grad
