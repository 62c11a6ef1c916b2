"""FPS / latency bookkeeping of live frames (no Streamlit here)."""

from __future__ import annotations

import threading
import time
from collections import deque


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
