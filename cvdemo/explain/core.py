"""The one attribution API every method, page, test and the command line share.

``attribute(method, model, inputs, target, **options) -> Attribution``, in the spirit of captum:

* ``model`` maps a batch of inputs to ``(N, C)`` scores (a classifier's logits), or to one scalar
  per item, ``(N,)`` or ``(N, 1)``, when ``target`` is None (a face-verification distance, a
  detection's score…);
* ``inputs`` is the ``(N, C, H, W)`` tensor the model takes (N is usually 1);
* ``target`` is the class index whose score is explained, or None for scalar models.

Models handed in here are often shared by every Streamlit session. Methods never attach hooks to
or modify them: anything that needs to (Grad-CAM's hooks, LRP's canonical form, occlusion's
rewritten graph) borrows a private copy from :func:`private_copy`.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

# progress(fraction_done, message) -> False to abort; None or True to go on.
ProgressFn = Callable[[float, str], "bool | None"]


class Cancelled(RuntimeError):
    """The progress callback asked to stop (the user changed a control mid-computation)."""


class AttributionError(ValueError):
    """The method cannot explain this model/input as asked; the message says why, for the user."""


@dataclass
class Conservation:
    """Completeness: the attribution should add up to what it explains.

    For LRP, the explained output (maps that fail are not shown; see :mod:`cvdemo.explain.lrp`
    for the tolerance); for Integrated Gradients, DeepLIFT and the other completeness methods, the
    score gap f(x) − f(baseline). ``tolerance`` is the largest relative error accepted.
    """

    relevance_sum: float
    output: float
    tolerance: float
    label: str = "output"

    @property
    def relative_error(self) -> float:
        return abs(self.relevance_sum - self.output) / max(abs(self.output), 1e-12)

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.relevance_sum)) and self.relative_error <= self.tolerance

    def describe(self) -> str:
        verdict = "passes" if self.ok else "FAILS"
        return (f"Σ attribution = {self.relevance_sum:.4g} vs {self.label} = {self.output:.4g} "
                f"(relative error {self.relative_error:.2%}, tolerance {self.tolerance:.0%}: {verdict})")


@dataclass(frozen=True)
class IntegrationTry:
    """One Integrated Gradients run while raising the step count: its steps and completeness gap."""

    steps: int
    relative_gap: float


@dataclass(frozen=True)
class AttributionInsight:
    """How a method ran, beyond its map: the settings it chose and what it met on the way.

    Every field is optional; a method fills in those that apply to it.
    """

    # layer methods (Grad-CAM, CAM, conductance)
    layer: str | None = None
    resolution: tuple[int, int] | None = None  # (h, w) of the layer's map before upsampling
    relu: bool | None = None
    # how channels became one map
    reduction: str | None = None
    # path integrals (Integrated Gradients, conductance)
    steps: int | None = None
    tried: tuple[IntegrationTry, ...] = ()  # Integrated Gradients: every step count tried, in order
    integration_rule: str | None = None  # captum's quadrature, e.g. "gausslegendre"
    baseline: str | None = None  # "zero", "blur", "mean" or "custom"
    baseline_output: float | None = None  # f(baseline)
    baselines: tuple[str, ...] = ()  # the SHAP background
    # sampling and cell methods
    samples: int | None = None
    noise: float | None = None
    cell: int | None = None  # side of a feature cell, pixels
    # occlusion
    path: str | None = None  # "incremental" or "batched"
    plan: str | None = None
    estimated_work_saving: float | None = None
    why_not_incremental: str | None = None
    patch: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    patches: int | None = None
    # LRP
    rule: str | None = None
    epsilon: float | None = None
    gamma: float | None = None
    alpha: float | None = None
    beta: float | None = None
    bias: bool | None = None
    leak: str | None = None
    conservation_per_item: tuple[float, ...] = ()  # Σ relevance of each input item
    note: str | None = None  # something the user should know about this map


@dataclass
class Attribution:
    """What a method found, ready to display.

    ``maps`` holds one signed ``(H, W)`` map per input item (positive = evidence for the target,
    negative = evidence against, for the signed methods); ``map`` is the first. ``raw`` is the
    attribution as the method produced it (usually the input's shape), on the CPU.
    """

    maps: np.ndarray  # (N, H, W) float32
    raw: torch.Tensor
    method: str
    target: int | None
    seconds: float
    output: float | None = None  # the explained score f(x) of the first item
    delta: float | None = None  # completeness methods: Σ attribution − (f(x) − f(baseline))
    conservation: Conservation | None = None  # the completeness check (LRP, IG, DeepLIFT, conductance, Shapley)
    signed: bool = True  # False for magnitude maps (|gradient|), which have no sign to show
    insight: AttributionInsight = field(default_factory=AttributionInsight)

    @property
    def map(self) -> np.ndarray:
        return self.maps[0]

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.maps.shape[-2:])

    def value_range(self) -> tuple[float, float]:
        return float(np.nanmin(self.map)), float(np.nanmax(self.map))

    def summary(self) -> dict[str, Any]:
        """Plain JSON-able facts (the command line prints these)."""
        low, high = self.value_range()
        facts: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "seconds": round(self.seconds, 4),
            "map_shape": list(self.shape),
            "value_range": [low, high],
        }
        if self.output is not None:
            facts["output"] = self.output
        if self.delta is not None:
            facts["convergence_delta"] = self.delta
        if self.conservation is not None:
            facts["conservation"] = {
                "relevance_sum": self.conservation.relevance_sum,
                "output": self.conservation.output,
                "relative_error": self.conservation.relative_error,
                "tolerance": self.conservation.tolerance,
                "ok": self.conservation.ok,
                "compared_with": self.conservation.label,
            }
        for name in ("path", "patches", "layer", "rule", "steps", "samples", "cell", "note"):
            value = getattr(self.insight, name)
            if value is not None:
                facts[name] = value
        return facts


# ---------------------------------------------------------------------------------------------
# Scores: what "the output" is for a target


class TopClass:
    """A target that is each item's highest-scoring class, chosen in the same forward pass that is
    explained: one pass gives the prediction and its map (live video). It keeps that pass's
    outputs; only single-pass methods accept it, since every pass would pick anew.
    """

    def __init__(self) -> None:
        self.outputs: torch.Tensor | None = None

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        if outputs.ndim != 2:
            raise AttributionError(f"the top class needs (N, classes) scores, got shape {tuple(outputs.shape)}")
        self.outputs = outputs.detach()
        return outputs.gather(1, outputs.argmax(dim=1, keepdim=True))[:, 0]

    @property
    def classes(self) -> torch.Tensor:
        if self.outputs is None:
            raise AttributionError("no forward pass has picked the top class yet")
        return self.outputs.argmax(dim=1)


def select_scores(outputs: torch.Tensor, target: "int | None | TopClass") -> torch.Tensor:
    """(N, C) scores and a class index, or (N,)/(N, 1) scalars and None → (N,) scores."""
    if isinstance(target, TopClass):
        return target.scores(outputs)
    if target is None:
        if outputs.ndim == 1:
            return outputs
        if outputs.ndim == 2 and outputs.shape[1] == 1:
            return outputs[:, 0]
        raise AttributionError(
            f"the model returns {tuple(outputs.shape)} scores per batch; pick a target class "
            "(target=None is for models that return one number per item)")
    if outputs.ndim != 2:
        raise AttributionError(f"expected (N, classes) scores from the model, got shape {tuple(outputs.shape)}")
    if not 0 <= int(target) < outputs.shape[1]:
        raise AttributionError(f"target {target} is out of range for {outputs.shape[1]} classes")
    return outputs[:, int(target)]


def check_inputs(inputs: torch.Tensor) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise AttributionError(f"inputs must be a tensor, got {type(inputs).__name__}")
    if inputs.ndim != 4:
        raise AttributionError(f"inputs must be (N, C, H, W), got shape {tuple(inputs.shape)}")
    if not torch.is_floating_point(inputs):
        raise AttributionError("inputs must be a float tensor (the preprocessed image)")
    return inputs


def model_device(model: Any, fallback: torch.device) -> torch.device:
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            return parameter.device
        for buffer in model.buffers():
            return buffer.device
    return fallback


def report(progress: ProgressFn | None, fraction: float, message: str) -> None:
    """Call the progress callback; a False answer aborts the computation."""
    if progress is not None and progress(min(max(fraction, 0.0), 1.0), message) is False:
        raise Cancelled("stopped: a control changed while the map was being computed")


class Timer:
    def __init__(self, device: torch.device | None = None):
        self.device = device
        self.start = time.perf_counter()

    def seconds(self) -> float:
        if self.device is not None:
            from cvdemo.device import synchronize

            synchronize(self.device)
        return time.perf_counter() - self.start


# ---------------------------------------------------------------------------------------------
# Reductions from the input-shaped attribution to a displayable map


def channel_map(raw: torch.Tensor, reduction: str = "sum") -> np.ndarray:
    """(N, C, H, W) → (N, H, W) float32.

    ``sum`` keeps additivity (Σ map = Σ attribution: what completeness and conservation talk
    about); ``abs_max`` is Simonyan et al.'s saliency (largest |gradient| over colour channels).
    """
    raw = raw.detach().float()
    if reduction == "sum":
        reduced = raw.sum(dim=1)
    elif reduction == "abs_max":
        reduced = raw.abs().amax(dim=1)
    elif reduction == "mean":
        reduced = raw.mean(dim=1)
    else:
        raise AttributionError(f"unknown channel reduction {reduction!r} (sum, abs_max, mean)")
    return reduced.cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Private copies of shared networks


def _fingerprint(network: nn.Module) -> tuple[int, int]:
    """Changes whenever a parameter or buffer is modified in place (tensor version counters), so a
    copy made before the weights changed (the sanity check randomises layers) is never lent."""
    tensors = list(network.parameters()) + list(network.buffers())
    return len(tensors), sum(t._version for t in tensors)


class _CopyPool:
    """Deep copies of shared networks, lent out one borrower at a time.

    Keyed by the original network (weakly: a model evicted from Streamlit's cache takes its
    copies with it) and a ``purpose``, because each method prepares its copy differently (hooks,
    canonical form…) and caches that preparation on the copy.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: "weakref.WeakKeyDictionary[nn.Module, dict[str, list[tuple[tuple, Any]]]]" = weakref.WeakKeyDictionary()

    @contextmanager
    def borrow(self, network: nn.Module, purpose: str, prepare: Callable[[nn.Module], Any] | None = None) -> Iterator[Any]:
        version = _fingerprint(network)
        item = None
        with self._lock:
            stack = self._free.setdefault(network, {}).setdefault(purpose, [])
            stack[:] = [entry for entry in stack if entry[0] == version]  # drop stale copies
            if stack:
                item = stack.pop()[1]
        if item is None:
            clone = copy.deepcopy(network).eval()
            for parameter in clone.parameters():
                parameter.requires_grad_(False)  # input gradients only: no parameter graphs
            item = prepare(clone) if prepare is not None else clone
        try:
            yield item
        finally:
            with self._lock:
                self._free.setdefault(network, {}).setdefault(purpose, []).append((version, item))

    def clear(self) -> None:
        with self._lock:
            self._free = weakref.WeakKeyDictionary()


COPIES = _CopyPool()


def private_copy(network: nn.Module, purpose: str = "plain", prepare: Callable[[nn.Module], Any] | None = None):
    """``with private_copy(net, "gradcam") as mine:`` a copy nobody else uses meanwhile.

    ``prepare(copy)`` runs once per copy and its result is what is lent (e.g. a canonised
    module); later borrows reuse it.
    """
    return COPIES.borrow(network, purpose, prepare)


# ---------------------------------------------------------------------------------------------
# The dispatcher


class AttributionMethod:
    """Base class: ``Method(model).attribute(inputs, target, **options) -> Attribution``."""

    name: str = ""
    title: str = ""
    needs_module: bool = False  # True: model must be an nn.Module (hooks, rewriting)
    single_pass: bool = False  # True: one forward pass (and one backward), so a TopClass target works

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor]):
        if self.needs_module and not isinstance(model, nn.Module):
            raise AttributionError(f"{self.title or self.name} needs the network as a torch.nn.Module, not a function")
        self.model = model

    @property
    def module(self) -> nn.Module:
        """``model`` as the nn.Module a ``needs_module`` method was given (``__init__`` checked it)."""
        if not isinstance(self.model, nn.Module):
            raise AttributionError(f"{self.title or self.name} needs the network as a torch.nn.Module, not a function")
        return self.model

    # Each method names its own keyword options: ``*args: Any, **options: Any`` is the signature a
    # subclass may narrow (mypy reads it as "any arguments"), where ``**options`` alone forbids that.
    def attribute(self, inputs: torch.Tensor, target: int | TopClass | None = None, *args: Any,
                  **options: Any) -> Attribution:  # pragma: no cover
        raise NotImplementedError
