"""Detect-and-draw steps shared by the page, the live callback and the benchmark."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from cvdemo.detection.drawing import draw_detections
from cvdemo.device import synchronize
from cvdemo.results import Detections

# Boxes below this are never shown; detecting once at this floor lets the page move its score
# slider without running the model again (filtering a lower-threshold result at t gives the
# same boxes as detecting at t: NMS never lets a lower-scoring box remove a higher one).
DETECTION_FLOOR = 0.05
NON_CLASSES = {"__background__", "N/A", "background"}


def class_names(categories: Iterable[str]) -> list[str]:
    """The categories a user can filter on (no background or unused COCO ids)."""
    return sorted({name for name in categories if name and name not in NON_CLASSES})


@dataclass
class TimedDetections:
    detections: Detections  # at DETECTION_FLOOR, extras included
    latency_ms: float
    device: str


def timed_detect(detector, image: np.ndarray, floor: float = DETECTION_FLOOR) -> TimedDetections:
    device = getattr(detector, "device", torch.device("cpu"))
    synchronize(device)
    started = time.perf_counter()
    detections = detector.detect(image, score_threshold=floor)
    synchronize(device)
    return TimedDetections(detections, (time.perf_counter() - started) * 1000.0, str(device))


def visible(detections: Detections, threshold: float, classes: Iterable[str] | None = None) -> Detections:
    """What the page shows: boxes at or above the score slider, of the chosen classes."""
    wanted = set(classes) if classes else None
    return detections.filter(threshold, wanted).sorted()


def detect_and_draw(detector, rgb: np.ndarray, threshold: float, classes: Iterable[str] | None = None) -> tuple[np.ndarray, Detections]:
    """One live frame: detect at the slider's threshold, keep the chosen classes, draw in place.

    ``rgb`` is a fresh buffer from the video decoder, so drawing into it saves a copy per frame.
    """
    detections = visible(detector.detect(rgb, score_threshold=threshold), threshold, classes)
    frame = rgb if rgb.flags.writeable and rgb.flags.c_contiguous else np.ascontiguousarray(rgb).copy()
    return draw_detections(frame, detections, copy=False), detections
