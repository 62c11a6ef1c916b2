"""Latency, throughput and memory of every ready model; printed, never asserted.

Feature packages add their own cases in a ``benchmarks`` module exposing
``CASES: list[Callable[[torch.device, int], list[BenchResult]]]``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch

import cvdemo
from cvdemo.device import configure_torch, describe_device, synchronize
from cvdemo.registry import ModelSpec, Task, ready_models


@dataclass
class BenchResult:
    case: str
    model: str
    device: str
    median_ms: float
    fps: float
    peak_memory_mb: float
    runs: int
    note: str = ""


def sample_frame(height: int = 480, width: int = 640) -> np.ndarray:
    """A real photo at webcam size (scikit-image's astronaut, resized)."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BILINEAR))


def time_call(fn: Callable[[], Any], device: torch.device, runs: int, warmup: int = 2) -> tuple[float, float]:
    """Median milliseconds per call and the peak memory (MB) while running."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        synchronize(device)
        timings.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(timings), peak_memory_mb(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated on CUDA (since the last reset); elsewhere the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(case: str, model: str, fn: Callable[[], Any], device: torch.device, runs: int, note: str = "") -> BenchResult:
    median_ms, peak = time_call(fn, device, runs)
    return BenchResult(case, model, str(device), round(median_ms, 2), round(1000.0 / median_ms, 1) if median_ms else 0.0, round(peak, 1), runs, note)


def _default_call(spec: ModelSpec, model: Any) -> tuple[str, Callable[[], Any]] | None:
    custom = spec.metadata.get("bench")
    if custom is not None:
        return custom(model)
    frame = sample_frame()
    if spec.task is Task.DETECTION:
        return "detect 640×480 (pre + model + post)", lambda: model.detect(frame)
    if spec.task is Task.SEMANTIC_SEGMENTATION:
        return "segment 640×480", lambda: model.segment(frame)
    if spec.task is Task.INSTANCE_SEGMENTATION:
        return "instances 640×480", lambda: model.segment_instances(frame)
    if spec.task is Task.CLASSIFICATION:
        return "classify 640×480", lambda: model.classify(frame)
    return None


def warm_up(spec: ModelSpec, model: Any) -> None:
    """One call on a webcam-sized photo, so that a user's first call is not the one paying for lazy set-up."""
    call = _default_call(spec, model)
    if call is not None:
        call[1]()


def model_cases(device: torch.device, runs: int, names: Iterable[str] | None = None) -> list[BenchResult]:
    results = []
    wanted = set(names) if names else None
    for spec in ready_models():
        if wanted and spec.name not in wanted:
            continue
        model = spec.build(device)
        call = _default_call(spec, model)
        if call is None:
            continue
        label, fn = call
        results.append(measure(label, spec.name, fn, device, runs))
    return results


def extra_cases() -> list[Callable[[torch.device, int], list[BenchResult]]]:
    cases: list[Callable[[torch.device, int], list[BenchResult]]] = []
    for module_info in pkgutil.walk_packages(cvdemo.__path__, prefix="cvdemo."):
        if module_info.name.endswith(".benchmarks"):
            cases.extend(getattr(importlib.import_module(module_info.name), "CASES", []))
    return cases


def machine_summary(device: torch.device) -> dict:
    cores: int | None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "device": describe_device(device),
        "torch": torch.__version__,
    }


def run_all(device: torch.device, runs: int, names: Iterable[str] | None = None, include_extra: bool = True,
            on_result: Callable[[BenchResult], None] | None = None, cases: str | None = None) -> list[BenchResult]:
    """``cases``: only the feature benchmarks whose function name contains it, and no per-model cases."""
    configure_torch()
    results = []
    for result in model_cases(device, runs, names) if cases is None else []:
        results.append(result)
        if on_result:
            on_result(result)
    if include_extra:
        for case in extra_cases():
            if cases is not None and cases not in getattr(case, "__name__", ""):
                continue
            try:
                case_results = case(device, runs)
            except Exception as exc:  # one broken case must not hide the others' figures
                name = f"{case.__module__}.{getattr(case, '__name__', 'case')}"
                print(f"bench case {name} failed: {exc.__class__.__name__}: {exc}", file=sys.stderr, flush=True)
                continue
            for result in case_results:
                if names and result.model not in set(names):
                    continue
                results.append(result)
                if on_result:
                    on_result(result)
    return results


def as_dicts(results: list[BenchResult]) -> list[dict]:
    return [asdict(r) for r in results]
