"""Network-only timings of the converted TF.js models at their native input sizes.

The per-model cases of :mod:`cvdemo.bench` time the whole ``detect``/``segment`` call on a
640×480 frame; these isolate the converted graph (no resizing, decoding or NMS), which is the part
the TF.js translation is responsible for.
"""

from __future__ import annotations

import torch

from cvdemo.bench import BenchResult, measure, sample_frame
from cvdemo.device import autocast
from cvdemo.registry import ready_models


def _network_only(device: torch.device, runs: int) -> list[BenchResult]:
    results = []
    frame = sample_frame()
    for spec in ready_models():
        if spec.framework != "tfjs":
            continue
        model = spec.build(device)
        prepared = model.preprocess(frame)
        tensor = prepared[0] if isinstance(prepared, tuple) else prepared
        height, width = tensor.shape[-2:]

        def forward(model=model, tensor=tensor):
            with torch.inference_mode(), autocast(device):
                return model.network(tensor)

        results.append(measure(f"network only {height}×{width}", spec.name, forward, device, runs,
                               note="converted TF.js graph"))
    return results


CASES = [_network_only]
