"""Region proposals with selective search (what R-CNN and Fast R-CNN classified).

OpenCV's implementation (cv2.ximgproc.segmentation) of Uijlings et al. 2013: Felzenszwalb
graph segmentation, then hierarchical grouping by colour, texture, size and fill similarity.
Its cost grows quickly with image size, so the image is downscaled first and the boxes scaled
back to the original pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

MODES = ("fast", "quality")
# Longest side the search sees by default. "quality" runs five colour spaces × five segmentations
# × four strategies against "fast"'s fewer, so it gets a smaller image for a similar wait.
MAX_SIDE = {"fast": 400, "quality": 300}


@dataclass
class Proposals:
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 in original pixels, best-ranked first
    seconds: float
    mode: str
    searched_size: tuple[int, int]  # (height, width) the search ran on

    def __len__(self) -> int:
        return len(self.boxes)


def colour_spaces(bgr: np.ndarray, mode: str) -> list[tuple[str, np.ndarray]]:
    """The diversified colour spaces OpenCV's fast / quality presets search in (Uijlings et al. §3.2).

    Running them one at a time (rather than all in one ``process()`` call) gives the page real
    progress steps; each call uses the preset's own segmentations and strategies.
    """
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    spaces = [("HSV", hsv), ("Lab", cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab))]
    if mode == "quality":
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        spaces += [("intensity", gray), ("hue", np.ascontiguousarray(hsv[..., 0])),
                   ("rgI", cv2.merge([bgr[..., 2], bgr[..., 1], gray]))]
    return spaces


def selective_search(image: np.ndarray, mode: str = "fast", max_side: int | None = None,
                     on_progress: Callable[[float, str], None] | None = None) -> Proposals:
    """Selective search proposals for an RGB uint8 image; ``on_progress(fraction, text)`` per colour space."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not hasattr(cv2, "ximgproc"):
        raise RuntimeError("selective search needs opencv-contrib (cv2.ximgproc); install opencv-contrib-python-headless")
    height, width = image.shape[:2]
    limit = max_side or MAX_SIDE[mode]
    scale = min(1.0, limit / max(height, width))
    small = image if scale >= 1.0 else cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(small[..., ::-1])
    started = time.perf_counter()
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(bgr)
    if mode == "fast":
        search.switchToSelectiveSearchFast()
    else:
        search.switchToSelectiveSearchQuality()
    spaces = colour_spaces(bgr, mode)
    ranked: list[np.ndarray] = []
    for step, (name, converted) in enumerate(spaces):
        if on_progress:
            on_progress(step / len(spaces), f"grouping regions in {name} ({step + 1}/{len(spaces)})")
        search.clearImages()
        search.addImage(converted)
        ranked.append(np.asarray(search.process(), dtype=np.int64).reshape(-1, 4))
    if on_progress:
        on_progress(1.0, "done")
    rects = _interleave_unique(ranked)
    seconds = time.perf_counter() - started
    boxes = rects.astype(np.float64)
    boxes[:, 2:] += boxes[:, :2]
    sx, sy = width / small.shape[1], height / small.shape[0]
    boxes *= np.array([sx, sy, sx, sy])
    return Proposals(boxes.astype(np.float32), seconds, mode, small.shape[:2])


def _interleave_unique(ranked: list[np.ndarray]) -> np.ndarray:
    """Merge per-colour-space rankings round-robin, keeping each box's first appearance."""
    longest = max((len(r) for r in ranked), default=0)
    if longest == 0:
        return np.zeros((0, 4), np.int64)
    rank = np.concatenate([np.arange(len(r)) for r in ranked])
    source = np.concatenate([np.full(len(r), i) for i, r in enumerate(ranked)])
    rects = np.concatenate(ranked)
    order = np.lexsort((source, rank))
    rects = rects[order]
    _, first = np.unique(rects, axis=0, return_index=True)
    return rects[np.sort(first)]


def recall_at(proposals: np.ndarray, truth_boxes: np.ndarray, iou_threshold: float = 0.5) -> float:
    """Fraction of ground-truth boxes that some proposal covers with IoU ≥ threshold."""
    from cvdemo.detection.boxes import iou_matrix

    if len(truth_boxes) == 0:
        return float("nan")
    if len(proposals) == 0:
        return 0.0
    return float((iou_matrix(truth_boxes, proposals).max(axis=1) >= iou_threshold).mean())
