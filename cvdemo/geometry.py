"""Geometry shared by the models and the views: 2-D sizes given as one number or two, and letterboxing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import SupportsInt, TypeVar

import numpy as np
import torch

Pair = SupportsInt | Sequence[SupportsInt]
Boxes = TypeVar("Boxes", np.ndarray, torch.Tensor)


def pair(value: Pair, what: str = "size") -> tuple[int, int]:
    """``(rows, cols)`` from one integer or a sequence of one or two, as torch's 2-D layers take them."""
    if isinstance(value, Sequence):  # a tuple, list or torch.Size
        if len(value) not in (1, 2):
            raise ValueError(f"{what} must be one integer or two, got {value!r}")
        return int(value[0]), int(value[-1])
    return int(value), int(value)


@dataclass(frozen=True)
class Letterbox:
    """Where an image sits in a network input after being scaled to fit and centred, aspect ratio
    kept: network-input pixel = original pixel × ``scale`` + ``pad``. The margins are the model's
    own fill (Darknet's grey, the pack models' black)."""

    image_size: tuple[int, int]  # (height, width) of the original
    input_size: tuple[int, int]  # (height, width) of the network input
    scale: float
    resized: tuple[int, int]  # (height, width) of the image inside the input
    pad: tuple[int, int]  # (pad_x, pad_y) in network-input pixels

    @classmethod
    def fit(cls, image_size: tuple[int, int], input_size: Pair) -> Letterbox:
        height, width = image_size
        input_h, input_w = pair(input_size, "input size")
        scale = min(input_h / height, input_w / width)
        new_h = min(input_h, max(1, round(height * scale)))
        new_w = min(input_w, max(1, round(width * scale)))
        return cls((height, width), (input_h, input_w), scale, (new_h, new_w), ((input_w - new_w) // 2, (input_h - new_h) // 2))

    @property
    def pad_x(self) -> float:
        return float(self.pad[0])

    @property
    def pad_y(self) -> float:
        return float(self.pad[1])

    def to_image(self, boxes: Boxes, clip: bool = False) -> Boxes:
        """``x1, y1, x2, y2`` boxes (NumPy or torch) from network-input pixels to original pixels;
        with ``clip``, cut to the image."""
        px, py = self.pad
        if isinstance(boxes, torch.Tensor):
            out = (boxes - boxes.new_tensor([px, py, px, py])) / self.scale
        else:
            out = (boxes - np.array([px, py, px, py], dtype=np.float32)) / self.scale
        if not clip:
            return out
        height, width = self.image_size
        if isinstance(out, torch.Tensor):
            return torch.minimum(out.clamp(min=0.0), out.new_tensor([width, height, width, height]))
        return np.clip(out, 0.0, np.array([width, height, width, height], dtype=out.dtype))

    def to_network(self, boxes: np.ndarray) -> np.ndarray:
        px, py = self.pad
        return np.asarray(boxes, dtype=np.float32) * self.scale + np.array([px, py, px, py], dtype=np.float32)
