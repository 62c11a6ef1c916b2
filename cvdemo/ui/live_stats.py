"""FPS / latency bookkeeping and the readout drawn on live frames (no Streamlit here)."""

from __future__ import annotations

import threading
import time
from collections import deque

import cv2
import numpy as np


class FrameStats:
    """Rolling FPS over the last frames, and the model's latency per frame."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._latencies: deque[float] = deque(maxlen=window)
        self._count = 0
        self._lock = threading.Lock()

    def record(self, latency_s: float, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.perf_counter() if now is None else now)
            self._latencies.append(latency_s)
            self._count += 1

    def summary(self) -> tuple[float, float, int]:
        """(frames per second, median latency in ms, frames processed)."""
        with self._lock:
            times = list(self._times)
            latencies = sorted(self._latencies)
            count = self._count
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) >= 2 and times[-1] > times[0] else 0.0
        latency_ms = latencies[len(latencies) // 2] * 1000.0 if latencies else 0.0
        return fps, latency_ms, count


def draw_readout(rgb: np.ndarray, stats: FrameStats) -> np.ndarray:
    fps, latency_ms, _ = stats.summary()
    text = f"{fps:4.1f} FPS  {latency_ms:3.0f} ms"
    scale = max(0.5, rgb.shape[1] / 1000.0)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(rgb, (0, 0), (width + 12, height + baseline + 12), (0, 0, 0), -1)
    cv2.putText(rgb, text, (6, height + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 2, cv2.LINE_AA)
    return rgb
