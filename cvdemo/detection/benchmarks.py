"""End-to-end per-frame latency of the live detection path, for every ready detector.

One frame = what the server does per webcam frame: decode a VP8 packet (WebRTC's default codec in
aiortc) into a 640×480 frame, convert it to RGB, detect at threshold 0.3, draw, and encode the
answer as VP8 again, with aiortc's real-time settings. The packets are a key frame and inter
frames of a slowly panning photo, decoded in order and cycled; the network runs through the fast
path as in the app. The browser's own encode and the network between them are not included.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from cvdemo.bench import BenchResult, measure, sample_frame
from cvdemo.detection.pipeline import detect_and_draw
from cvdemo.registry import Task, default_live_model, ready_models

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

    from cvdemo.fastpath import accelerate, engine_label

    for spec in specs:
        # the network as the app runs it: through the fast path, compiled here before timing
        detector = accelerate(spec.build(device), background=False)

        def one_frame(detector=detector):
            packet = packets[state["i"] % len(packets)]
            state["i"] += 1
            frames = decoder.decode(packet)
            rgb = frames[0].to_ndarray(format="rgb24")
            annotated, _ = detect_and_draw(detector, rgb, 0.3)
            out = av.VideoFrame.from_ndarray(annotated, format="rgb24").reformat(format="yuv420p")
            out.pts = state["i"]
            return answer.encode(out)

        one_frame()  # compiles the network for this frame's shape
        note = f"{spec.family}; network on {engine_label(detector)}"
        if spec.name == default_live_model(Task.DETECTION).name:
            note += "; the live default: target ≥ 25 FPS"
        result = measure("live frame 640×480: VP8 decode → detect → draw → VP8 encode", spec.name, one_frame, device, runs,
                         note=note)
        results.append(result)
    return results


CASES = [live_frame_cases]


# The live and upload networks, and MobileNetV2 for comparison with the table.
BACKEND_NETWORKS = ("nanodet", "yolov3-tiny-320", "yolov3-tiny", "centernet", "selfie", "meet", "mobilenet_v2")


def _busy_python(stop) -> None:
    """What a server's other threads do to a frame: hold the GIL in pure Python."""
    count = 0
    while not stop.is_set():
        count += 1


def _network_input(model, frame: np.ndarray) -> torch.Tensor:
    """The tensor the wrapper hands its network for ``frame``, laid out as its forward lays it out."""
    inputs = model.prepare(frame).inputs
    return inputs.contiguous(memory_format=torch.channels_last) if hasattr(model, "anchors") else inputs


def backend_cases(device: torch.device, runs: int) -> list[BenchResult]:
    """Each network alone in eager torch, ONNX Runtime and TorchScript, timed in turns (eager, ORT,
    TorchScript, eager, …) in one process, quiet and with one busy Python thread beside it."""
    import threading

    from cvdemo.fastpath import COMPILED, compile_network, max_error, onnxruntime_available, time_in_turns
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
        x = _network_input(model, frame)
        runners = {"eager": model.network}
        notes = {"eager": "the oracle"}
        with torch.no_grad():
            expected = model.network(x)
            for backend in COMPILED:
                if backend == "onnxruntime" and not onnxruntime_available():
                    continue
                try:
                    runners[backend] = compile_network(model.network, x, backend)
                    notes[backend] = f"max |Δ| vs eager {max_error(expected, runners[backend](x)):.1e}"
                except Exception as exc:  # reported, not fatal: the app then uses the other one
                    results.append(BenchResult(f"network alone, {backend}", name, str(device), float("nan"),
                                               float("nan"), 0.0, 0, f"failed: {type(exc).__name__}"))
        for condition in ("quiet", "busy thread"):
            stop = threading.Event()
            busy = threading.Thread(target=_busy_python, args=(stop,), daemon=True)
            if condition == "busy thread":
                busy.start()
            try:
                medians = time_in_turns(runners, x, rounds=max(runs, 3))
            finally:
                stop.set()
            for label, median in medians.items():
                ratio = f"{median / medians['eager']:.2f} × eager (timed in turns); " if label != "eager" else ""
                results.append(BenchResult(f"network alone, {label}, {condition}", name, str(device), round(median, 2),
                                           round(1000.0 / median, 1), 0.0, max(runs, 3), ratio + notes[label]))
    return results


CASES.append(backend_cases)
