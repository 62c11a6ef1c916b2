"""Result types shared by every model of a task, whatever framework it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np


@dataclass
class Detections:
    """Boxes in original image pixels, ``x1, y1, x2, y2``; labels index ``categories``."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int64
    categories: Sequence[str]
    image_size: tuple[int, int]  # (height, width)
    insight: DetectionInsight | None = None  # what the detector saw on the way (heads, candidates, settings)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def label_names(self) -> list[str]:
        return [self.categories[i] for i in self.labels]

    def select(self, keep: np.ndarray) -> "Detections":
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep], self.categories, self.image_size, self.insight)

    def filter(self, min_score: float = 0.0, classes: set[str] | None = None) -> "Detections":
        keep = self.scores >= min_score
        if classes is not None:
            keep &= np.array([name in classes for name in self.label_names], dtype=bool)
        return self.select(keep)

    def sorted(self) -> "Detections":
        return self.select(np.argsort(-self.scores, kind="stable"))

    def to_records(self) -> list[dict]:
        return [
            {"label": name, "score": round(float(score), 4), "box": [round(float(v), 1) for v in box]}
            for name, score, box in zip(self.label_names, self.scores, self.boxes)
        ]


@dataclass
class InstanceMasks(Detections):
    masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))  # (N, H, W)

    def select(self, keep: np.ndarray) -> "InstanceMasks":
        return InstanceMasks(self.boxes[keep], self.scores[keep], self.labels[keep], self.categories, self.image_size, self.insight, self.masks[keep])


@dataclass
class SemanticMask:
    """Per-pixel class indices at the original image size."""

    classes: np.ndarray  # (H, W) integer class indices
    categories: Sequence[str]
    probabilities: np.ndarray | None = None  # (C, H, W) float32, when the model gives them
    insight: SegmentationInsight | None = None

    def pixel_fractions(self) -> dict[str, float]:
        counts = np.bincount(self.classes.reshape(-1), minlength=len(self.categories))
        total = max(int(counts.sum()), 1)
        return {name: float(counts[i]) / total for i, name in enumerate(self.categories)}


@dataclass(frozen=True, eq=False)  # arrays inside have no single truth value to compare by
class SegmentationInsight:
    """What a segmenter worked at, for the pages that compare it with the output."""

    model: str | None = None
    network_input: tuple[int, int] | None = None  # (height, width) the network saw
    low_resolution: np.ndarray | None = None  # (h, w) foreground probability at the network's output size


@dataclass
class Classification:
    probabilities: np.ndarray  # (C,)
    categories: Sequence[str]

    def top(self, k: int = 5) -> list[tuple[str, float, int]]:
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.categories[i], float(self.probabilities[i]), int(i)) for i in order]

    @property
    def best(self) -> tuple[str, float, int]:
        return self.top(1)[0]


@dataclass
class HeadLevel:
    """One output level of a dense one-stage head, for the "each cell predicts" views.

    Detectors put a tuple of these in ``DetectionInsight.levels`` and the boxes before NMS
    (a ``Detections``) in ``DetectionInsight.candidates``, so pages can redo NMS live and
    draw per-cell scores over the image. A grid cell (row, col) covers network-input pixels
    ``[col*stride, (col+1)*stride)``; original-image pixels are ``(net - pad) / scale``.
    """

    name: str  # e.g. "stride 8 (52×52)"
    stride: int
    class_scores: np.ndarray  # (C, h, w) probabilities in [0, 1]
    objectness: np.ndarray | None = None  # (h, w) or (anchors, h, w)
    raw: np.ndarray | None = None  # the raw head tensor at this level, (channels, h, w)
    scale: float = 1.0  # network-input pixels per original pixel (x and y alike when letterboxed)
    scale_xy: tuple[float, float] | None = None  # (sx, sy) when the input was stretched instead
    pad: tuple[float, float] = (0.0, 0.0)  # (pad_x, pad_y) in network-input pixels
    anchors: np.ndarray | None = None  # (anchors, 2) widths/heights in network-input pixels


@dataclass(frozen=True, eq=False)  # arrays inside have no single truth value to compare by
class DetectionInsight:
    """What a detector saw on the way to its final boxes, for the pages that look inside it.

    Every field is optional: a detector fills in what it has. The NMS settings are those the
    detector used, so a page can redo NMS from ``candidates`` at the same or other settings.
    """

    model: str | None = None
    input_size: tuple[int, int] | None = None  # (height, width) of the network input
    levels: tuple[HeadLevel, ...] = ()  # one-stage heads, coarsest first
    candidates: Detections | None = None  # every box above ``candidate_floor``, before NMS
    candidate_floor: float | None = None
    nms_threshold: float | None = None
    class_aware_nms: bool = True
    max_detections: int | None = None
    proposals: np.ndarray | None = None  # (P, 4) region proposals of a two-stage detector, image pixels
    peak_picking: str | None = None  # CenterNet: how peaks replace NMS before the final NMS
    landmarks: np.ndarray | None = None  # (N, K, 2) keypoints of each kept box (MTCNN's 5 face points)
    landmark_names: tuple[str, ...] = ()
    stages: Mapping[str, np.ndarray] | None = None  # MTCNN: stage name → (M, 5) boxes + score it kept
    scales: tuple[float, ...] = ()  # MTCNN: the image pyramid's scales
    windows_scored: int | None = None  # MTCNN: windows the first stage scored
