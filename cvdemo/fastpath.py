"""Faster back ends for the networks of the live and upload paths: ONNX Runtime and TorchScript.

Why: in the served app the network shares the process with aiortc's threads and Streamlit's. An
eager forward pass is hundreds of small ops, and each hands the GIL back and must win it again;
with one busy Python thread beside it a 17 ms NanoDet pass took 375 ms in the issue's
measurement. Both back ends here run the whole graph in C++ under one GIL release, with batch
norms folded into the convolutions, so they are also faster when the process is quiet.

:class:`FastNetwork` wraps a task wrapper's ``network`` callable and nothing else, so the
wrapper's pre- and post-processing (and any batch API built on them) are unchanged. The first
time it sees an input shape it compiles on a background thread and answers with eager torch
until that is done: the first frame never waits on a compile. The compile builds every
candidate back end, keeps those whose outputs match eager torch on that very input (rtol and atol
1e-4), and, when more than one does, times them in turns on the input and keeps the faster (ONNX
Runtime on a near tie: it holds up better beside busy threads): the choice is measured on the
machine it runs on (AVX2 and AVX-512 machines differ), per network and input shape.
Eager torch stays the oracle and the fallback: with gradients on (explanations), with hooks on
any layer, on non-CPU devices, and where no back end compiles or matches.
"""

from __future__ import annotations

import io
import logging
import os
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

BACKEND_ENV = "CVDEMO_BACKEND"
BACKENDS = ("auto", "onnxruntime", "torchscript", "eager")
COMPILED = ("onnxruntime", "torchscript")  # what "auto" races, in this order
TOLERANCE = 1e-4  # relative and absolute, as torch.allclose; the tests hold every live network to it
TIMED_ROUNDS = 5
# Within this factor of the fastest, ONNX Runtime wins the race: with one busy Python thread
# beside it (a served page) it took 0.07-0.97x eager's time, TorchScript 0.18-1.48x (README).
PREFER_ONNXRUNTIME_WITHIN = 1.10
log = logging.getLogger(__name__)
# torch's ONNX exporter and tracer keep process-wide state ("GLOBALS.in_onnx_export must be False"
# when two models preloaded together compiled at once): one compile at a time.
_COMPILE_LOCK = threading.Lock()


def _key(x: torch.Tensor) -> tuple:
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return tuple(x.shape), x.dtype, x.device, channels_last


def _flatten(outputs: Any) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for item in outputs for t in _flatten(item)]


def _rebuild(like: Any, flat: list[torch.Tensor]) -> Any:
    """``flat`` laid out as ``like`` (a tensor, or nested tuples and lists of them)."""
    if isinstance(like, torch.Tensor):
        return flat.pop(0)
    return type(like)(_rebuild(item, flat) for item in like)


def max_error(expected: Any, got: Any) -> float:
    """Largest absolute difference; ``inf`` when the outputs' structure or shapes differ."""
    e, g = _flatten(expected), _flatten(got)
    if len(e) != len(g) or any(a.shape != b.shape for a, b in zip(e, g)):
        return float("inf")
    return max((a.float() - b.float()).abs().max().item() for a, b in zip(e, g))


def matches(expected: Any, got: Any, tolerance: float = TOLERANCE) -> bool:
    e, g = _flatten(expected), _flatten(got)
    return (len(e) == len(g) and all(a.shape == b.shape for a, b in zip(e, g))
            and all(torch.allclose(b.float(), a.float(), rtol=tolerance, atol=tolerance) for a, b in zip(e, g)))


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxRuntimeNetwork:
    """One input shape of ``eager``, exported to ONNX in memory and run by ONNX Runtime's CPU provider."""

    def __init__(self, eager: nn.Module, example: torch.Tensor):
        import onnxruntime as ort

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # torch 2.14 marks the TorchScript-based exporter legacy; its torch.export-based one
            # could not export NanoDet or selfie here (see the README), this one exports them all
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # a strided slice it leaves unfolded costs nothing measurable; the outputs are checked anyway
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)
            # the legacy exporter writes to a file object too (kept in memory: nothing on disk to go stale)
            torch.onnx.export(eager, (example.contiguous(),), buffer,  # type: ignore[arg-type]
                              dynamo=False, opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: spinning ones took a core from everything
        # else in the process (eager torch beside a spinning session ran 2x slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        with torch.no_grad():
            self._layout = eager(example)  # the nesting of the outputs, to hand them back the same way

    def __call__(self, x: torch.Tensor) -> Any:
        arrays = self.session.run(None, {self.input_name: x.contiguous().numpy()})
        return _rebuild(self._layout, [torch.from_numpy(a) for a in arrays])


def _torchscript(eager: nn.Module, example: torch.Tensor) -> Callable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape-dependent Python is fixed per traced shape
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks jit deprecated; see the README
        return torch.jit.freeze(torch.jit.trace(eager, example, check_trace=False))


def compile_network(eager: nn.Module, example: torch.Tensor, backend: str) -> Callable:
    """``eager`` for inputs shaped like ``example``, run by ``backend`` ("onnxruntime" or "torchscript")."""
    with _COMPILE_LOCK, torch.no_grad():
        if backend == "onnxruntime":
            return OnnxRuntimeNetwork(eager, example)
        if backend == "torchscript":
            return _torchscript(eager, example)
    raise ValueError(f"unknown back end {backend!r}; expected one of {COMPILED}")


def time_in_turns(runners: dict[str, Callable], x: torch.Tensor, rounds: int = TIMED_ROUNDS) -> dict[str, float]:
    """Median milliseconds per runner on ``x``, timed in turns (a, b, a, b, …) after two warm rounds."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.no_grad():
        for round_ in range(rounds + 2):
            for name, run in runners.items():
                started = time.perf_counter()
                run(x)
                if round_ >= 2:
                    times[name].append((time.perf_counter() - started) * 1000.0)
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass
class Choice:
    """What a compile found for one input shape: the back end that answers, and why."""

    backend: str
    median_ms: dict[str, float] = field(default_factory=dict)  # each matching candidate, eager included
    rejected: dict[str, str] = field(default_factory=dict)  # candidate → why it was not used


class FastNetwork:
    """``eager``'s drop-in: same call, same attributes, compiled per input shape once ready."""

    def __init__(self, eager: nn.Module, background: bool = True, backends: Sequence[str] | None = None):
        self.eager = eager
        self.background = background
        self.backends = tuple(backends) if backends is not None else candidates()
        self.choices: dict[tuple, Choice] = {}
        self._compiled: dict[tuple, Callable] = {}
        self._pending: set[tuple] = set()
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
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled(x)
        with self._lock:
            start = key not in self._pending and key not in self.choices
            if start:
                self._pending.add(key)
        if start:
            example = x.detach().clone()
            if self.background:
                # Not a daemon, explicitly (it would inherit the flag of Streamlit's script thread): one still compiling while the interpreter shuts down aborts the process
                # ("terminate called without an active exception"); exit waits for it instead.
                threading.Thread(target=self._compile, args=(key, example), name="cvdemo-compile", daemon=False).start()
            else:
                self._compile(key, example)
                if key in self._compiled:
                    return self._compiled[key](x)
        return self.eager(x)

    def _compile(self, key: tuple, example: torch.Tensor) -> None:
        try:
            with torch.no_grad():
                expected = self.eager(example)
            runners: dict[str, Callable] = {}
            rejected: dict[str, str] = {}
            for backend in self.backends:
                try:
                    runner = compile_network(self.eager, example, backend)
                    with torch.no_grad():
                        got = runner(example)  # a frozen graph optimises itself on its first run: pay that here
                except Exception as exc:  # an uncompilable network stays on the other back ends, or eager
                    rejected[backend] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                    continue
                if matches(expected, got):
                    runners[backend] = runner
                else:
                    rejected[backend] = f"differs from eager torch by {max_error(expected, got):.1e}"
            for backend, why in rejected.items():
                log.warning("%s for %s %s: not used (%s)", backend, type(self.eager).__name__, key[0], why)
            if not runners:
                self.choices[key] = Choice("eager", rejected=rejected)
                return
            median_ms = time_in_turns({**runners, "eager": self.eager}, example) if len(runners) > 1 else {}
            best = min(runners, key=lambda name: median_ms.get(name, 0.0))
            if "onnxruntime" in median_ms and median_ms["onnxruntime"] <= PREFER_ONNXRUNTIME_WITHIN * median_ms[best]:
                best = "onnxruntime"
            self.choices[key] = Choice(best, median_ms, rejected)
            self._compiled[key] = runners[best]
            log.info("%s %s runs on %s (%s)", type(self.eager).__name__, key[0], best,
                     ", ".join(f"{k} {v:.1f} ms" for k, v in median_ms.items()) or "the only candidate")
        except Exception as exc:  # the eager answer is always right; never let a compile take a frame down
            log.warning("compiling %s failed, staying eager: %s", type(self.eager).__name__, exc)
            self.choices[key] = Choice("eager", rejected={"all": str(exc)})
        finally:
            self._pending.discard(key)

    def ready_for(self, x: torch.Tensor) -> bool:
        return _key(x) in self._compiled

    def backend_for(self, x: torch.Tensor) -> str:
        """The back end answering for inputs like ``x`` now: "eager" until (or unless) a compile is in use."""
        choice = self.choices.get(_key(x))
        return choice.backend if choice is not None and _key(x) in self._compiled else "eager"


LABELS = {"onnxruntime": "ONNX Runtime", "torchscript": "TorchScript", "eager": "eager torch"}


def engine_label(model: Any) -> str:
    """What runs ``model``'s network now, for a readout: "ONNX Runtime", "eager torch (compiling)", …"""
    served_by = getattr(model, "served_by", None)
    if served_by:
        return f"the inference server at {served_by}"
    network = getattr(model, "network", None)
    if not isinstance(network, FastNetwork):
        return LABELS["eager"]
    in_use = sorted({LABELS[choice.backend] for choice in network.choices.values()})
    if network._pending:
        return " + ".join(in_use + ["eager torch (compiling)"])
    return " + ".join(in_use) or LABELS["eager"]


def backend() -> str:
    """``$CVDEMO_BACKEND``: auto (default: race ONNX Runtime and TorchScript), onnxruntime, torchscript or eager."""
    chosen = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if chosen not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={chosen!r}: expected one of {', '.join(BACKENDS)}")
    return chosen


def candidates(chosen: str | None = None) -> tuple[str, ...]:
    """The compiled back ends ``chosen`` (default ``$CVDEMO_BACKEND``) allows that are installed here."""
    chosen = chosen or backend()
    if chosen not in BACKENDS:
        raise ValueError(f"unknown back end {chosen!r}; expected one of {', '.join(BACKENDS)}")
    allowed = COMPILED if chosen == "auto" else (chosen,) if chosen != "eager" else ()
    return tuple(b for b in allowed if b != "onnxruntime" or onnxruntime_available())


def accelerate(model: Any, background: bool = True, chosen: str | None = None) -> Any:
    """Swap ``model.network`` for a :class:`FastNetwork` when the model runs on the CPU; returns ``model``.

    ``chosen``: one of :data:`BACKENDS`; None reads ``$CVDEMO_BACKEND``."""
    network = getattr(model, "network", None)
    device = getattr(model, "device", torch.device("cpu"))
    backends = candidates(chosen)
    if not backends or not isinstance(network, nn.Module) or torch.device(device).type != "cpu":
        return model
    model.network = FastNetwork(network, background, backends)
    return model
