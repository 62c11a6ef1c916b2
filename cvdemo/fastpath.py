"""A faster back end for the networks of the live and upload paths: TorchScript, traced and frozen.

Why: in the served app the network shares the process with aiortc's threads and Streamlit's. An
eager forward pass is hundreds of small ops, and each hands the GIL back and must win it again;
with one busy Python thread beside it a 17 ms NanoDet pass took 375 ms in the issue's
measurement. A frozen TorchScript graph runs all its ops in C++ under one GIL release, and
freezing folds batch norms and constants into the convolutions, so it is also faster when quiet.

:class:`FastNetwork` wraps a task wrapper's ``network`` callable and nothing else, so the
wrapper's pre- and post-processing (and any batch API built on them) are unchanged. It traces
on a background thread the first time it sees an input shape and answers with eager torch
until the trace is ready: the first frame never waits on a compile. Eager torch stays the
oracle (tests compare the two to 1e-4) and the fallback: with gradients on (explanations),
with hooks on any layer, on non-CPU devices, and if tracing fails.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Any

import torch
from torch import nn

BACKEND_ENV = "CVDEMO_BACKEND"  # "torchscript" (default) or "eager"
log = logging.getLogger(__name__)


def _key(x: torch.Tensor) -> tuple:
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return tuple(x.shape), x.dtype, x.device, channels_last


class FastNetwork:
    """``eager``'s drop-in: same call, same attributes, traced and frozen per input shape once ready."""

    def __init__(self, eager: nn.Module, background: bool = True):
        self.eager = eager
        self.background = background
        self._traced: dict[tuple, Any] = {}
        self._pending: set[tuple] = set()
        self._failed: set[tuple] = set()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # level_sizes, strides, heads, …: the eager module's
        if name == "eager":
            raise AttributeError(name)
        return getattr(self.eager, name)

    def _hooked(self) -> bool:
        return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in self.eager.modules())

    def __call__(self, x: torch.Tensor):
        if torch.is_grad_enabled() or x.requires_grad or x.device.type != "cpu" or self._hooked():
            return self.eager(x)
        key = _key(x)
        traced = self._traced.get(key)
        if traced is not None:
            return traced(x)
        with self._lock:
            start = key not in self._pending and key not in self._failed
            if start:
                self._pending.add(key)
        if start:
            example = x.detach().clone()
            if self.background:
                # Not a daemon, explicitly (it would inherit the flag of Streamlit's script thread): one still tracing while the interpreter shuts down aborts the process
                # ("terminate called without an active exception"); exit waits for it instead.
                threading.Thread(target=self._trace, args=(key, example), name="cvdemo-trace", daemon=False).start()
            else:
                self._trace(key, example)
                if key in self._traced:
                    return self._traced[key](x)
        return self.eager(x)

    def _trace(self, key: tuple, example: torch.Tensor) -> None:
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape-dependent Python is fixed per traced shape
                warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks jit deprecated; see the README
                traced = torch.jit.freeze(torch.jit.trace(self.eager, example, check_trace=False))
                traced(example)  # the first run of a frozen graph optimises it; pay that here, not in a frame
            self._traced[key] = traced
        except Exception as exc:  # an untraceable network stays eager
            log.warning("TorchScript trace of %s failed, staying eager: %s", type(self.eager).__name__, exc)
            self._failed.add(key)
        finally:
            self._pending.discard(key)

    def ready_for(self, x: torch.Tensor) -> bool:
        return _key(x) in self._traced


def backend() -> str:
    return os.environ.get(BACKEND_ENV, "torchscript").strip().lower()


def accelerate(model: Any, background: bool = True) -> Any:
    """Swap ``model.network`` for a :class:`FastNetwork` when the model runs on the CPU; returns ``model``."""
    network = getattr(model, "network", None)
    device = getattr(model, "device", torch.device("cpu"))
    if backend() == "eager" or not isinstance(network, nn.Module) or torch.device(device).type != "cpu":
        return model
    model.network = FastNetwork(network, background)
    return model
