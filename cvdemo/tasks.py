"""What a loaded model of each task can do: the interfaces pages and the CLI program against.

Every wrapper keeps the plain ``torch.nn.Module`` it runs as ``network`` (eval mode, on
``device``), so explainability code can reach the tensors. Wrappers are shared across Streamlit
sessions and threads: their methods must not mutate the wrapper or its network (use
``torch.inference_mode`` and local variables; attach hooks only on a copy).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from cvdemo.results import Classification, Detections, InstanceMasks, SemanticMask


@runtime_checkable
class Detector(Protocol):
    network: torch.nn.Module
    device: torch.device
    categories: tuple[str, ...]

    def detect(self, image: np.ndarray, score_threshold: float = 0.3) -> Detections:
        """``image`` is H×W×3 uint8 RGB; boxes come back in its pixels."""
        ...


@runtime_checkable
class SemanticSegmenter(Protocol):
    network: torch.nn.Module
    device: torch.device
    categories: tuple[str, ...]

    def segment(self, image: np.ndarray) -> SemanticMask: ...


@runtime_checkable
class InstanceSegmenter(Protocol):
    network: torch.nn.Module
    device: torch.device
    categories: tuple[str, ...]

    def segment_instances(self, image: np.ndarray, score_threshold: float = 0.5) -> InstanceMasks: ...


@runtime_checkable
class ImageClassifier(Protocol):
    network: torch.nn.Module  # (N, 3, H, W) preprocessed tensor -> (N, C) logits
    device: torch.device
    categories: tuple[str, ...]

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """H×W×3 uint8 RGB -> the (1, 3, H, W) float tensor ``network`` expects, on ``device``."""
        ...

    def classify(self, image: np.ndarray) -> Classification: ...


@runtime_checkable
class FaceDetector(Protocol):
    network: torch.nn.Module
    device: torch.device

    def detect(self, image: np.ndarray, score_threshold: float = 0.7) -> Detections:
        """Faces of an H×W×3 uint8 RGB image as boxes in its pixels; each face's five landmarks ride along."""
        ...


@runtime_checkable
class FaceEmbedder(Protocol):
    network: torch.nn.Module  # (N, 3, H, W) normalised chips -> (N, D) descriptors
    device: torch.device

    def preprocess(self, chips: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 aligned face chips -> the tensor ``network`` expects, on ``device``."""
        ...

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 aligned face chips -> (N, D) float32 descriptors."""
        ...


@runtime_checkable
class ImageGenerator(Protocol):
    network: torch.nn.Module  # (N, nz) latent vectors -> (N, 3, H, W) images in [-1, 1]
    device: torch.device

    def generate(self, z: torch.Tensor, progress=None) -> np.ndarray:
        """(N, nz) latent vectors -> (N, H, W, 3) uint8 RGB images."""
        ...

    def sample(self, seed: int, n: int, temperature: float = 1.0, progress=None) -> np.ndarray:
        """Images ``0 … n−1`` of ``seed``."""
        ...
