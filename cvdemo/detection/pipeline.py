"""Detect-and-draw steps shared by the page, the live callback and the benchmark."""

from __future__ import annotations

import statistics
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


# Latencies the page shows are warm: the first call (which also gives the result) warms caches
# and allocators, then the median of this many more calls is reported.
LATENCY_RUNS = 3


@dataclass
class TimedDetections:
    detections: Detections  # at DETECTION_FLOOR, insight included
    latency_ms: float  # warm: median of LATENCY_RUNS calls after a first one
    device: str


def timed_detect(detector, image: np.ndarray, floor: float = DETECTION_FLOOR, runs: int = LATENCY_RUNS) -> TimedDetections:
    return timed_detect_together([detector], image, floor, runs)[0]


def timed_detect_together(detectors: list, image: np.ndarray, floor: float = DETECTION_FLOOR,
                          runs: int = LATENCY_RUNS) -> list[TimedDetections]:
    """Each detector on the same image, timed in turns (A, B, A, B, …) so that whatever else the
    machine does at that moment slows them alike; a first call of each warms it up."""
    devices = [getattr(d, "device", torch.device("cpu")) for d in detectors]
    results = [d.detect(image, score_threshold=floor) for d in detectors]
    timings: list[list[float]] = [[] for _ in detectors]
    for _ in range(runs):
        for detector, device, times in zip(detectors, devices, timings):
            synchronize(device)
            started = time.perf_counter()
            detector.detect(image, score_threshold=floor)
            synchronize(device)
            times.append((time.perf_counter() - started) * 1000.0)
    return [TimedDetections(result, statistics.median(times), str(device))
            for result, times, device in zip(results, timings, devices)]


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


def class_summary(detections: Detections) -> list[dict]:
    """One row per class in a frame, most boxes first: its box count and best score (the live results table)."""
    rows: dict[str, dict] = {}
    for name, score in zip(detections.label_names, detections.scores):
        row = rows.setdefault(name, {"class": name, "count": 0, "best score": 0.0})
        row["count"] += 1
        row["best score"] = max(row["best score"], round(float(score), 2))
    return sorted(rows.values(), key=lambda r: (-r["count"], -r["best score"], r["class"]))
