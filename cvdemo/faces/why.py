"""Why do two faces match? Occlusion on each aligned chip, scoring the similarity to the other.

The score is the negative descriptor distance to the other face, so a positive attribution
marks a region whose occlusion pushes the two faces apart: evidence *for* the match. Negative
regions are ones the match would be better without (a hand, a shadow, a different expression).
Computed with :func:`cvdemo.explain.attribute` ("occlusion").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cvdemo.explain import Attribution, attribute
from cvdemo.faces.embedder import FaceEmbedder

DEFAULT_PATCH = 30
DEFAULT_STRIDE = 15
BASELINES = ("blur", "zero", "mean")


class SimilarityToReference(nn.Module):
    """Normalised chips → −‖descriptor − reference‖, one number per chip."""

    def __init__(self, network: nn.Module, reference: torch.Tensor):
        super().__init__()
        self.network = network
        self.register_buffer("reference", reference.detach().float().reshape(1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.linalg.vector_norm(self.network(x) - self.reference, dim=1)


@dataclass
class WhyMatch:
    distance: float
    map_a: np.ndarray  # (150, 150) on chip A: positive = supports the match with B
    map_b: np.ndarray
    seconds: float
    passes: int  # forward passes per chip


def _explain(embedder: FaceEmbedder, chip: np.ndarray, reference: np.ndarray, patch: int, stride: int, baseline: str,
             progress) -> Attribution:
    model = SimilarityToReference(embedder.network, torch.from_numpy(np.asarray(reference, np.float32)).to(embedder.device)).eval()
    # fast=False: the incremental path would deep-copy and trace this fresh wrapper on every call
    # and, with a 7×7 stem and global pooling, saves little on a 150-px chip (its own estimate: ~1.1×).
    return attribute("occlusion", model, embedder.preprocess(chip), None, patch=patch, stride=stride, baseline=baseline,
                     progress=progress, fast=False)


def why_match(embedder: FaceEmbedder, chip_a: np.ndarray, chip_b: np.ndarray, *, patch: int = DEFAULT_PATCH,
              stride: int = DEFAULT_STRIDE, baseline: str = "blur", progress=None) -> WhyMatch:
    """Occlusion maps for both chips (each against the other's descriptor)."""
    descriptors = embedder.embed(np.stack([chip_a, chip_b]))

    def part(offset: float):
        if progress is None:
            return None
        return lambda fraction, message: progress(offset + fraction / 2, message)

    first = _explain(embedder, chip_a, descriptors[1], patch, stride, baseline, part(0.0))
    second = _explain(embedder, chip_b, descriptors[0], patch, stride, baseline, part(0.5))
    return WhyMatch(float(np.linalg.norm(descriptors[0].astype(np.float64) - descriptors[1])), first.map, second.map,
                    first.seconds + second.seconds, first.insight.patches or 0)
