"""Where YOLOv3-tiny's time goes: the network alone, and the YOLO view's post-processing.

The per-model case of ``python -m cvdemo bench`` times ``detect`` end to end; these split it up.
"""

from __future__ import annotations

import torch

from cvdemo.bench import BenchResult, measure, sample_frame
from cvdemo.registry import get


def _yolo_cases(device: torch.device, runs: int) -> list[BenchResult]:
    results = []
    frame = sample_frame()
    for name in ("yolov3-tiny", "yolov3-tiny-320"):
        spec = get(name)
        if not spec.ready:
            continue
        detector = spec.build(device)
        size = detector.input_size
        tensor = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)

        def forward(detector=detector, tensor=tensor):
            from cvdemo.device import autocast

            with torch.inference_mode(), autocast(device):
                return detector.network(tensor)

        results.append(measure(f"network only {size}×{size}", name, forward, device, runs))
        if size == 416:
            from cvdemo.yolo import insight

            detections = detector.detect(frame, 0.01)
            results.append(measure("YOLO view: threshold + NMS + decode all", name,
                                   lambda: insight.pipeline_stages(detections, 0.3, 0.45), device, runs))
    return results


CASES = [_yolo_cases]
