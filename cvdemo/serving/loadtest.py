"""Simulated webcam streams against the in-process models or the inference server.

Each stream is a thread that behaves like a live view: a camera delivers a frame every
``1 / fps`` seconds; the stream takes the newest one when it is free (older ones are skipped,
as streamlit-webrtc does), prepares it, runs the forward (here, or on the server under the live
deadline) and finishes it. The frames are real photos resized to 640×480.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from cvdemo.batching import image_outputs
from cvdemo.serving import FrameDropped

FRAME_SIZE = (480, 640)  # a webcam's VGA frame
MAX_SECONDS = 600
MAX_STREAMS = 256


@dataclass
class LoadReport:
    backend: str
    model: str
    streams: int
    seconds: float
    frames: int
    fps: float
    per_stream_fps: float
    p50_ms: float
    p95_ms: float
    dropped: int
    mean_batch: float
    max_batch: int

    def as_dict(self) -> dict:
        return asdict(self)


def camera_frames(model: str) -> list[np.ndarray]:
    """Real photos as webcam frames (150×150 face chips for the face descriptor)."""
    import cv2
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    if model == "dlib_resnet":
        return [cv2.resize(np.ascontiguousarray(data.astronaut()[60:180, 160:280]), (150, 150), interpolation=cv2.INTER_AREA)]
    return [cv2.resize(np.ascontiguousarray(p), FRAME_SIZE[::-1], interpolation=cv2.INTER_AREA) for p in photos]


def _one_frame(wrapper):
    """The per-frame call a live view makes with this model."""
    if hasattr(wrapper, "detect"):
        return wrapper.detect
    if hasattr(wrapper, "segment"):
        return wrapper.segment
    if hasattr(wrapper, "classify"):
        return wrapper.classify
    return lambda chip: wrapper.finish(image_outputs(wrapper.forward(wrapper.prepare(chip).inputs), 0), None)


def _drive(call, frames: list[np.ndarray], backend: str, streams: int, seconds: float, fps: float):
    """``streams`` camera threads calling ``call`` for ``seconds``: per-stream latencies (s) and drops."""
    from cvdemo.serving.client import live_deadline

    latencies: list[list[float]] = [[] for _ in range(streams)]
    dropped = [0] * streams
    start = time.monotonic() + 0.1
    stop_at = start + seconds

    def stream(index: int) -> None:
        interval = 1.0 / fps
        offset = index * interval / streams  # cameras are not in phase
        next_frame = start + offset
        count = 0
        while True:
            now = time.monotonic()
            if now < next_frame:
                time.sleep(next_frame - now)
            if time.monotonic() >= stop_at:
                return
            frame = frames[(index + count) % len(frames)]
            count += 1
            began = time.perf_counter()
            try:
                if backend == "serve":
                    with live_deadline():
                        call(frame)
                else:
                    call(frame)
                latencies[index].append(time.perf_counter() - began)
            except FrameDropped:
                dropped[index] += 1
            # the newest frame next: the camera's frames that came meanwhile are skipped
            now = time.monotonic()
            next_frame = max(next_frame + interval, start + offset + np.ceil((now - start - offset) / interval) * interval)

    threads = [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    return latencies, dropped


def run_streams(wrapper, model: str, backend: str, streams: int, seconds: float, fps: float = 30.0,
                batch_counts=None, warm_seconds: float = 0.0) -> LoadReport:
    """Run ``streams`` simulated cameras for ``seconds``. ``batch_counts()`` (served only) gives the
    server's cumulative {batch size: count}; the report's batch figures are the run's share.
    ``warm_seconds``: the same load first, unmeasured, so that the batch shapes it brings are
    compiled (a replica traces each new one in the background) before the measured run."""
    if not 1 <= streams <= MAX_STREAMS:
        raise ValueError(f"streams must be between 1 and {MAX_STREAMS}, got {streams}")
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be in (0, {MAX_SECONDS}], got {seconds}")
    frames = camera_frames(model)
    call = _one_frame(wrapper)
    call(frames[0])  # warm: first-call allocations are not what a lecture sees
    if warm_seconds > 0:
        _drive(call, frames, backend, streams, min(warm_seconds, MAX_SECONDS), fps)
    before = dict(batch_counts()) if batch_counts else {}
    latencies, dropped = _drive(call, frames, backend, streams, seconds, fps)
    all_latencies = np.array([x for per in latencies for x in per]) * 1000.0
    done = len(all_latencies)
    if batch_counts:
        after = batch_counts()
        run = {size: after.get(size, 0) - before.get(size, 0) for size in after}
        run = {size: count for size, count in run.items() if count > 0}
        batches = sum(run.values())
        mean_batch = sum(size * count for size, count in run.items()) / batches if batches else 0.0
        max_batch = max(run) if run else 0
    else:
        mean_batch, max_batch = (1.0, 1) if done else (0.0, 0)
    return LoadReport(
        backend=backend, model=model, streams=streams, seconds=seconds, frames=done,
        fps=round(done / seconds, 2), per_stream_fps=round(done / seconds / streams, 2),
        p50_ms=round(float(np.percentile(all_latencies, 50)), 1) if done else 0.0,
        p95_ms=round(float(np.percentile(all_latencies, 95)), 1) if done else 0.0,
        dropped=int(sum(dropped)), mean_batch=round(mean_batch, 2), max_batch=int(max_batch),
    )
