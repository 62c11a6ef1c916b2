"""Which device the app computes on, and the small policies that go with it."""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import torch

from cvdemo.settings import env_int

DEVICE_ENV = "CVDEMO_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def available_devices() -> list[str]:
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    if _mps_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``requested`` or $CVDEMO_DEVICE overrides.

    An override that names a device this machine lacks raises, rather than silently
    running somewhere else and reporting misleading timings.
    """
    origin = "requested device" if requested else DEVICE_ENV
    choice = (requested or os.environ.get(DEVICE_ENV) or "").strip().lower()
    if choice in ("", "auto"):
        return torch.device(available_devices()[0])
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{origin} {choice!r}: CUDA is not available on this machine")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"{origin} {choice!r}: MPS is not available on this machine")
    if device.type not in ("cuda", "mps", "cpu"):
        raise RuntimeError(f"unsupported device {choice!r}: use cuda, mps, cpu or auto")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"CUDA · {torch.cuda.get_device_name(index)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU · {torch.get_num_threads()} threads"


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(trim_bytes: int = 1 << 30, mmap_bytes: int = 32 << 20) -> bool:
    """Let glibc keep up to ``trim_bytes`` of freed heap instead of handing it back at once.

    Batched inference frees and reallocates the same tens of megabytes on every call; with
    glibc's defaults each round trip returns the pages to the kernel and faults them in again.
    On 2 cores that was 13 % of occlusion's time in the kernel (1.6 M page faults in 15 s).
    Measured again with the file watcher off: occlusion (MobileNetV2, p16/s8) 1.11–1.27 s with it,
    1.68–1.75 s without (316 k page faults per run instead of 1.3 k), and the same RSS after.
    Returns False where the C library is not glibc (macOS, Windows, musl): nothing changes there.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, trim_bytes)) and bool(mallopt(_M_MMAP_THRESHOLD, mmap_bytes))


def full_fp32_convolutions() -> None:
    """cuDNN convolutions in full fp32 from now on in this process, never TF32 (a 10-bit mantissa).

    TF32 moves dlib's face descriptors by ~0.02 and MTCNN's landmarks by ~1 px on CUDA, too much
    for a port checked against dlib to 1e-5, and makes a convolutionalized classifier differ from
    the original by ~1e-3. The flag is process-wide, so it is set and never switched back: toggled
    around one call it would change other threads' calls. Models under fp16 autocast are unaffected.
    """
    torch.backends.cudnn.allow_tf32 = False


@lru_cache(maxsize=1)
def configure_torch() -> int:
    """Once per process: the physical cores we were given, not the host's logical count; freed
    memory kept; full-fp32 convolutions.

    Streamlit serves several sessions from one process, so oversubscribing threads makes every
    session slower; inter-op parallelism buys little for single-image inference.
    """
    keep_freed_memory()
    full_fp32_convolutions()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cores = os.cpu_count() or 1
    threads = env_int("CVDEMO_THREADS", cores)
    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)
    return torch.get_num_threads()


def autocast(device: torch.device, enabled: bool = True):
    """fp16 autocast on CUDA, a no-op elsewhere (CPU fp16 is slower, MPS autocast is patchy)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so that wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
