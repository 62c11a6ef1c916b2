"""End-to-end per-frame latency of the live detection path, for every ready detector.

One frame = what the server does per webcam frame: decode a VP8 packet (WebRTC's default codec in
aiortc) into a 640×480 frame, convert it to RGB, detect at threshold 0.3, draw, and encode the
answer as VP8 again, with aiortc's real-time settings. The packets are a key frame and inter
frames of a slowly panning photo, decoded in order and cycled. The browser's own encode and the
network are not included.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from cvdemo.bench import BenchResult, measure, sample_frame
from cvdemo.detection.pipeline import detect_and_draw
from cvdemo.registry import Task, ready_models

FRAMES = 8


def vp8_encoder():
    """A VP8 encoder for 640×480 at 30 FPS, real-time settings as aiortc's."""
    import av

    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    return encoder


def encoded_frames(count: int = FRAMES) -> list:
    """VP8 packets of the sample photo panned a few pixels per frame (the first is a key frame)."""
    import av

    base = sample_frame(480, 640)
    encoder = vp8_encoder()
    packets = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(np.roll(base, 4 * i, axis=1), format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    return packets


def live_frame_cases(device: torch.device, runs: int) -> list[BenchResult]:
    import av

    results: list[BenchResult] = []
    specs = ready_models(Task.DETECTION)
    if not specs:
        return results
    packets = encoded_frames()
    decoder = av.CodecContext.create("libvpx", "r")
    answer = vp8_encoder()
    state = {"i": 0}

    for spec in specs:
        detector = spec.build(device)

        def one_frame(detector=detector):
            packet = packets[state["i"] % len(packets)]
            state["i"] += 1
            frames = decoder.decode(packet)
            rgb = frames[0].to_ndarray(format="rgb24")
            annotated, _ = detect_and_draw(detector, rgb, 0.3)
            out = av.VideoFrame.from_ndarray(annotated, format="rgb24").reformat(format="yuv420p")
            out.pts = state["i"]
            return answer.encode(out)

        result = measure("live frame 640×480: VP8 decode → detect → draw → VP8 encode", spec.name, one_frame, device, runs,
                         note=f"{spec.family}; target ≥ 20 FPS for the default live detector" if spec is specs[0] else spec.family)
        results.append(result)
    return results


CASES = [live_frame_cases]


BACKEND_NETWORKS = ("nanodet", "yolov3-tiny-320", "yolov3-tiny", "centernet", "selfie", "meet")


def _busy_python(stop) -> None:
    """What a server's other threads do to a frame: hold the GIL in pure Python."""
    count = 0
    while not stop.is_set():
        count += 1


def backend_cases(device: torch.device, runs: int) -> list[BenchResult]:
    """Each live network alone, eager torch vs TorchScript (the app's back end), timed in turns
    (eager, traced, eager, …) in one process, quiet and with one busy Python thread beside it."""
    import statistics
    import threading
    import time

    from cvdemo.fastpath import FastNetwork
    from cvdemo.registry import get

    if device.type != "cpu":
        return []
    results = []
    frame = sample_frame()
    for name in BACKEND_NETWORKS:
        spec = get(name)
        if not spec.ready:
            continue
        model = spec.build(device)
        prepared = model.preprocess(frame) if hasattr(model, "preprocess") else None
        if prepared is None:
            from cvdemo.yolo.decode import letterbox

            prepared = letterbox(frame, model.input_size, device)[0].contiguous(memory_format=torch.channels_last)
        x = prepared[0] if isinstance(prepared, tuple) else prepared
        eager = model.network
        traced = FastNetwork(eager, background=False)
        for condition in ("quiet", "busy thread"):
            stop = threading.Event()
            busy = threading.Thread(target=_busy_python, args=(stop,), daemon=True)
            if condition == "busy thread":
                busy.start()
            times: dict[str, list[float]] = {"eager": [], "torchscript": []}
            try:
                with torch.inference_mode():
                    for _ in range(2):
                        eager(x), traced(x)
                    for _ in range(max(runs, 3)):
                        for label, network in (("eager", eager), ("torchscript", traced)):
                            started = time.perf_counter()
                            network(x)
                            times[label].append((time.perf_counter() - started) * 1000.0)
            finally:
                stop.set()
            ratio = statistics.median(times["torchscript"]) / statistics.median(times["eager"])
            for label, values in times.items():
                median = statistics.median(values)
                results.append(BenchResult(f"network alone, {label}, {condition}", name, str(device), round(median, 2),
                                           round(1000.0 / median, 1), 0.0, len(values),
                                           f"torchscript / eager = {ratio:.2f} (timed in turns)" if label == "torchscript" else ""))
    return results


CASES.append(backend_cases)
