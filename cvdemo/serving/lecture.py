"""Lecture mode: many viewers sharing one inference server fairly (no Streamlit here).

* ``CVDEMO_MAX_STREAMS``: at most this many live webcam streams at once in one app process;
  viewer N+1 is told so and gets Snapshot mode. Unset: no cap.
* ``CVDEMO_STREAM_WIDTH`` / ``CVDEMO_STREAM_FPS``: each stream's resolution and frame rate
  are capped (asked of the browser, and enforced on the frames that arrive), so one fast
  camera cannot take the server's capacity from the others.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
import time
from dataclasses import dataclass

import numpy as np

ENV_MAX_STREAMS = "CVDEMO_MAX_STREAMS"
ENV_STREAM_WIDTH = "CVDEMO_STREAM_WIDTH"
ENV_STREAM_FPS = "CVDEMO_STREAM_FPS"
STALE_AFTER_S = 5.0  # a stream whose page stopped refreshing its slot this long ago has gone


@dataclass(frozen=True)
class StreamLimits:
    max_streams: int | None = None
    width: int = 640
    fps: float = 30.0

    @classmethod
    def from_env(cls) -> "StreamLimits":
        def number(name: str, kind, default):
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{name} must be a number, got {raw!r}") from exc
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {raw!r}")
            return value

        return cls(number(ENV_MAX_STREAMS, int, None), number(ENV_STREAM_WIDTH, int, cls.width),
                   number(ENV_STREAM_FPS, float, cls.fps))

    def media_constraints(self) -> dict:
        """What the browser is asked for (it may deliver less, never more)."""
        height = round(self.width * 3 / 4)
        return {"video": {"width": {"ideal": self.width, "max": self.width},
                          "height": {"ideal": height, "max": height},
                          "frameRate": {"ideal": self.fps, "max": self.fps}}, "audio": False}


class StreamSlots:
    """The live streams running now: owners hold a slot and refresh it while they play."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _drop_stale(self, now: float) -> None:
        for owner in [o for o, seen in self._held.items() if now - seen > STALE_AFTER_S]:
            del self._held[owner]

    def hold(self, owner: str, capacity: int | None) -> bool:
        """Take or refresh ``owner``'s slot; False when ``capacity`` streams already run."""
        with self._lock:
            now = self._clock()
            self._drop_stale(now)
            if owner not in self._held and capacity is not None and len(self._held) >= capacity:
                return False
            self._held[owner] = now
            return True

    def has_room(self, owner: str, capacity: int | None) -> bool:
        with self._lock:
            self._drop_stale(self._clock())
            return capacity is None or owner in self._held or len(self._held) < capacity

    def release(self, owner: str) -> None:
        with self._lock:
            self._held.pop(owner, None)

    def active(self) -> int:
        with self._lock:
            self._drop_stale(self._clock())
            return len(self._held)


STREAMS = StreamSlots()  # this app process's live streams


class FrameGate:
    """One stream's share: frames arriving faster than ``fps`` are skipped, wider than ``width`` shrunk."""

    def __init__(self, limits: StreamLimits, clock=time.monotonic):
        self.limits = limits
        self._clock = clock
        self._next = 0.0

    def admit(self) -> bool:
        now = self._clock()
        interval = 1.0 / self.limits.fps
        if now < self._next - 0.1 * interval:  # a little early is camera jitter, not a faster camera
            return False
        # the next slot counts from this frame, so a late frame does not earn a burst
        self._next = now + interval
        return True

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        if width <= self.limits.width:
            return rgb
        import cv2

        new_height = max(1, round(height * self.limits.width / width))
        return cv2.resize(rgb, (self.limits.width, new_height), interpolation=cv2.INTER_AREA)
