"""Captum as the engine: its attribution methods behind the app's ``Attribution``, progress and cancel.

Each class names one captum method and only says how to call it; :class:`CaptumMethod` does the
rest the same way for all of them:

* the score is ``select_scores(model(x), target)``, one number per item, wrapped in a module
  (:class:`Score`) and handed to captum with ``target=None``, so class indices, scalar models
  (face distance, a detection's cell) and the live view's top class all go the same way;
* every forward pass goes through that module, which counts it, reports progress and raises
  :class:`~cvdemo.explain.core.Cancelled` when the callback says stop;
* methods that hook the network (guided backpropagation, DeepLIFT, layer methods) run on a private
  copy (:func:`~cvdemo.explain.core.private_copy`), never on the shared one;
* stochastic methods draw from a seeded generator, so the same request gives the same map;
* options are checked by name: a misspelt option is an error, not silently ignored.

Methods with a completeness property (Σ attribution = f(x) − f(baseline): Integrated Gradients,
DeepLIFT, DeepLIFT-SHAP, layer conductance, Shapley value sampling) report it as a
:class:`~cvdemo.explain.core.Conservation` check with a pass/fail, as LRP does. Integrated
Gradients by default doubles its step count (up to :data:`IG_MAX_STEPS`) until the gap is under
:data:`COMPLETENESS_TOLERANCE`.
"""

from __future__ import annotations

import inspect
import math
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionInsight,
    AttributionMethod,
    Conservation,
    IntegrationTry,
    ProgressFn,
    Timer,
    channel_map,
    model_device,
    private_copy,
    report,
    select_scores,
)
from cvdemo.explain.layers import default_layer, resolve
from cvdemo.explain.occlusion import BASELINES, make_baseline

COMPLETENESS_TOLERANCE = 0.05  # the bar: Σ attribution within 5 % of the score gap
IG_FIRST_STEPS = 32
IG_MAX_STEPS = 512  # 16× the first try; MobileNetV2 reaches < 1 % by then (0.098 of 12.1)


class Score(nn.Module):
    """``x → select_scores(model(x), target)``: the one number per item captum explains.

    Counts the items it has scored and reports ``done / expected`` to ``progress``.
    """

    def __init__(self, model, target, progress: ProgressFn | None, title: str, expected: int):
        super().__init__()
        self.model = model  # a submodule when it is one, so captum's hooks reach its layers
        self.target, self.progress, self.title, self.expected = target, progress, title, max(1, expected)
        self.done = 0
        self.last: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = select_scores(self.model(x), self.target)
        self.last = scores.detach()
        self.done += int(x.shape[0])
        report(self.progress, min(0.99, self.done / self.expected),
               f"{self.title}: {min(self.done, self.expected)}/{self.expected} images through the network")
        return scores


@dataclass
class Found:
    """What one captum call gave, before it becomes an :class:`Attribution`."""

    raw: torch.Tensor  # as captum returned it (input- or layer-shaped)
    maps: np.ndarray  # (N, H, W)
    signed: bool
    insight: AttributionInsight = field(default_factory=AttributionInsight)
    total: float | None = None  # Σ attribution of the first item, for a completeness check
    gap: float | None = None  # what it should equal: f(x) − f(baseline)


def _strip_hooks(network: nn.Module) -> None:
    """A cancelled captum call can leave its hooks on the private copy; the next borrower must not inherit them."""
    for module in network.modules():
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        module._backward_hooks.clear()
        if hasattr(module, "_backward_pre_hooks"):
            module._backward_pre_hooks.clear()


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    devices = [device] if device.type == "cuda" else []
    numpy_state = np.random.get_state()  # GradientShap draws its path positions from numpy's generator
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            np.random.seed(int(seed))
            yield
    finally:
        np.random.set_state(numpy_state)


def _grid(layer_map: torch.Tensor) -> tuple[int, int]:
    return int(layer_map.shape[-2]), int(layer_map.shape[-1])


def _baseline_name(baseline) -> str:
    return baseline if isinstance(baseline, str) else "custom"


def _upsample(layer_map: torch.Tensor, size) -> np.ndarray:
    """(N, 1, h, w) → (N, H, W), bilinear as captum's ``LayerAttribution.interpolate``."""
    return F.interpolate(layer_map.detach().float(), size=tuple(size), mode="bilinear",
                         align_corners=False)[:, 0].cpu().numpy()


def grid_mask(shape, cell: int) -> torch.Tensor:
    """(1, 1, H, W) feature ids: square cells of ``cell`` pixels, row by row (the last ones cut off)."""
    height, width = shape[-2:]
    if cell < 1 or cell > min(height, width):
        raise AttributionError(f"the feature cell must be 1…{min(height, width)} px, got {cell}")
    rows = torch.arange(height) // cell
    cols = torch.arange(width) // cell
    per_row = math.ceil(width / cell)
    return (rows[:, None] * per_row + cols[None, :])[None, None]


def _feature_total(values: np.ndarray, mask: torch.Tensor) -> float:
    """Σ over features of a map that repeats each feature's value on all of its pixels."""
    ids = mask[0, 0].numpy().ravel()
    counts = np.bincount(ids)
    sums = np.bincount(ids, weights=values.ravel().astype(np.float64))
    used = counts > 0
    return float((sums[used] / counts[used]).sum())


class CaptumMethod(AttributionMethod):
    """Base: check options, build the :class:`Score`, call :meth:`run`, report an :class:`Attribution`."""

    captum: str = ""  # captum's class, for the method list
    stochastic = False
    completeness = False  # Σ attribution should equal f(x) − f(baseline)

    # Each method names its own keyword options (see AttributionMethod.attribute for the signature).
    def run(self, score: Score, x: torch.Tensor, *args: Any, **options: Any) -> Found:  # pragma: no cover
        raise NotImplementedError

    def expected_items(self, x: torch.Tensor, options: dict) -> int:
        """How many images the network will see (for the progress bar)."""
        return int(x.shape[0])

    def attribute(self, inputs, target=None, *, progress: ProgressFn | None = None, **options) -> Attribution:
        try:
            inspect.signature(self.run).bind(None, None, **options)
        except TypeError as exc:
            raise AttributionError(f"{self.title}: {exc}".replace("run()", "options")) from None
        x = inputs.detach().to(model_device(self.model, inputs.device)).float()
        timer = Timer(x.device)
        report(progress, 0.0, f"{self.title}…")
        seeded = _seeded(options.get("seed", 0), x.device) if self.stochastic else nullcontext()
        with self._network() as network, seeded, torch.enable_grad(), warnings.catch_warnings():
            # captum announces every hook it sets and removes; the user cannot act on any of it.
            warnings.simplefilter("ignore", UserWarning)
            score = Score(network, target, progress, self.title, self.expected_items(x, options))
            try:
                # Private copies hold no parameter gradients: the graph reaches a hooked layer only through x.
                found = self.run(score, x.clone().requires_grad_(True), **options)
                found.raw = found.raw.detach()
            finally:
                if isinstance(network, nn.Module) and self.needs_module:
                    _strip_hooks(network)
            if self.single_pass and score.last is not None:
                output = float(score.last[0])  # the pass that was explained (and chose a TopClass)
            else:
                with torch.no_grad():
                    output = float(select_scores(network(x[:1]), target)[0])
        report(progress, 1.0, f"{self.title}: done")
        check: Conservation | None = None
        delta: float | None = None
        if found.total is not None and found.gap is not None:
            check = Conservation(found.total, found.gap, COMPLETENESS_TOLERANCE, "score gap f(x) − f(x′)")
            delta = found.total - found.gap
        return Attribution(found.maps.astype(np.float32), found.raw.detach().cpu(), self.name, target, timer.seconds(),
                           output=output, delta=delta,
                           conservation=check, signed=found.signed, insight=found.insight)

    @contextmanager
    def _network(self):
        if self.needs_module:
            with private_copy(self.model, "captum") as network:
                yield network
        else:
            yield self.model


# ---------------------------------------------------------------------------------------------
# Gradients


class _Gradient(CaptumMethod):
    single_pass = True
    default_reduction = "abs_max"

    def make(self, score: Score):  # pragma: no cover
        raise NotImplementedError

    def run(self, score, x, *, reduction: str | None = None) -> Found:
        reduction = reduction or self.default_reduction
        raw = self.make(score).attribute(x.clone().requires_grad_(True), **self.call_options())
        return Found(raw, channel_map(raw, reduction), reduction != "abs_max", AttributionInsight(reduction=reduction))

    def call_options(self) -> dict:
        return {}


class Saliency(_Gradient):
    name = "saliency"
    title = "Saliency: vanilla gradient (Simonyan et al.)"
    captum = "Saliency"

    def make(self, score):
        from captum.attr import Saliency

        return Saliency(score)

    def call_options(self):
        return {"abs": False}  # the sign is kept in .raw; the map takes max |gradient| over colours


class InputXGradient(_Gradient):
    name = "input_x_gradient"
    title = "Input × gradient"
    captum = "InputXGradient"
    default_reduction = "sum"

    def make(self, score):
        from captum.attr import InputXGradient

        return InputXGradient(score)


class GuidedBackprop(_Gradient):
    name = "guided_backprop"
    title = "Guided backpropagation (Springenberg et al.)"
    captum = "GuidedBackprop"
    needs_module = True

    def make(self, score):
        from captum.attr import GuidedBackprop

        return GuidedBackprop(score)

    def run(self, score, x, *, reduction: str | None = None) -> Found:
        found = super().run(score, x, reduction=reduction)
        if not any(isinstance(m, nn.ReLU) for m in score.modules()):
            found.insight = replace(found.insight, note=(
                "captum changes the backward pass of nn.ReLU modules only; this network has none "
                "(ReLU6, LeakyReLU…), so the map is the plain gradient"))
        return found


class Deconvolution(GuidedBackprop):
    name = "deconvolution"
    title = "Deconvolution (Zeiler & Fergus)"
    captum = "Deconvolution"

    def make(self, score):
        from captum.attr import Deconvolution

        return Deconvolution(score)


# ---------------------------------------------------------------------------------------------
# Path and noise methods


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    return make_baseline(x, baseline, (max(8, x.shape[-2] // 14), max(8, x.shape[-1] // 14)))


def _gap(score: Score, x: torch.Tensor, reference: torch.Tensor) -> float:
    """f(x) − f(reference) of the first item (reference may be a batch of baselines: their mean)."""
    with torch.no_grad():
        return float(select_scores(score.model(x[:1]), score.target)[0]
                     - select_scores(score.model(reference), score.target).mean())


class IntegratedGradients(CaptumMethod):
    name = "integrated_gradients"
    title = "Integrated Gradients (Sundararajan et al.)"
    captum = "IntegratedGradients"
    completeness = True

    def expected_items(self, x, options):
        steps = options.get("steps")
        return x.shape[0] * (steps if steps else IG_FIRST_STEPS)

    def run(self, score, x, *, steps: int | None = None, baseline="zero", method: str = "gausslegendre",
            batch_size: int = 16) -> Found:
        """``steps`` None: start at 32 and double until the completeness gap is under 5 % (≤ 512).
        ``baseline``: zero (the network's 0: the dataset's mean colour when inputs are
        normalised), blur, mean, a number or a tensor. ``method``: captum's integration rule."""
        from captum.attr import IntegratedGradients

        if steps is not None and steps < 2:
            raise AttributionError("Integrated Gradients needs at least 2 steps")
        reference = _baseline(x, baseline)
        gap = _gap(score, x, reference[:1])
        explainer = IntegratedGradients(score)
        tried = []
        count = steps or IG_FIRST_STEPS
        while True:
            score.expected, score.done = x.shape[0] * count, 0
            raw = explainer.attribute(x, baselines=reference, n_steps=count, method=method,
                                      internal_batch_size=batch_size)
            total = float(raw[0].double().sum())
            error = abs(total - gap) / max(abs(gap), 1e-12)
            tried.append(IntegrationTry(count, error))
            if steps is not None or error < COMPLETENESS_TOLERANCE or count >= IG_MAX_STEPS:
                break
            count = min(IG_MAX_STEPS, count * 2)
        return Found(raw, channel_map(raw, "sum"), True,
                     AttributionInsight(steps=count, tried=tuple(tried), integration_rule=method,
                                        baseline_output=score_at(score, reference[:1]), baseline=_baseline_name(baseline)),
                     total, gap)


def score_at(score: Score, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(select_scores(score.model(x), score.target)[0])


class SmoothGrad(CaptumMethod):
    name = "smoothgrad"
    title = "SmoothGrad (Smilkov et al.)"
    captum = "NoiseTunnel(Saliency), smoothgrad"
    stochastic = True
    nt_type = "smoothgrad"
    reduction = "abs_max"

    def expected_items(self, x, options):
        return x.shape[0] * options.get("samples", 24)

    def run(self, score, x, *, samples: int = 24, noise: float = 0.15, seed: int = 0, batch_size: int = 16) -> Found:
        """``noise``: σ of the Gaussian as a share of the input's value range (the paper's 10–20 %)."""
        from captum.attr import NoiseTunnel, Saliency

        if samples < 1:
            raise AttributionError(f"{self.title} needs at least one noisy sample")
        sigma = float(noise) * float(x.max() - x.min())
        raw = NoiseTunnel(Saliency(score)).attribute(x, nt_type=self.nt_type, nt_samples=samples,
                                                    nt_samples_batch_size=batch_size, stdevs=sigma, abs=False)
        return Found(raw, channel_map(raw, self.reduction), False,
                     AttributionInsight(samples=samples, noise=noise, reduction=self.reduction))


class VarGrad(SmoothGrad):
    name = "vargrad"
    title = "VarGrad (Adebayo et al.)"
    captum = "NoiseTunnel(Saliency), vargrad"
    nt_type = "vargrad"
    reduction = "sum"  # a variance per colour channel: ≥ 0, summed


class DeepLift(CaptumMethod):
    name = "deeplift"
    title = "DeepLIFT (Shrikumar et al.)"
    captum = "DeepLift"
    needs_module = True
    completeness = True

    def expected_items(self, x, options):
        return 2 * x.shape[0] + 2

    def run(self, score, x, *, baseline="zero") -> Found:
        from captum.attr import DeepLift

        reference = _baseline(x, baseline)
        raw = DeepLift(score).attribute(x, baselines=reference)
        return Found(raw, channel_map(raw, "sum"), True, AttributionInsight(baseline=_baseline_name(baseline)),
                     float(raw[0].detach().double().sum()), _gap(score, x, reference[:1]))


def baseline_set(x: torch.Tensor) -> torch.Tensor:
    """(3, C, H, W): the zero, blurred and mean-colour versions of the first item (SHAP's background)."""
    return torch.cat([_baseline(x[:1], kind) for kind in BASELINES])


class DeepLiftShap(CaptumMethod):
    name = "deeplift_shap"
    title = "DeepLIFT-SHAP (Lundberg & Lee)"
    captum = "DeepLiftShap"
    needs_module = True
    completeness = True

    def expected_items(self, x, options):
        return 2 * len(BASELINES) * x.shape[0] + 4

    def run(self, score, x) -> Found:
        """The background is the zero, blurred and mean-colour image; attributions are averaged over it."""
        from captum.attr import DeepLiftShap

        background = baseline_set(x)
        raw = DeepLiftShap(score).attribute(x, baselines=background)
        return Found(raw, channel_map(raw, "sum"), True, AttributionInsight(baselines=tuple(BASELINES)),
                     float(raw[0].detach().double().sum()), _gap(score, x, background))


class GradientShap(CaptumMethod):
    name = "gradient_shap"
    title = "GradientSHAP (Lundberg & Lee)"
    captum = "GradientShap"
    stochastic = True

    def expected_items(self, x, options):
        return x.shape[0] * options.get("samples", 24)

    def run(self, score, x, *, samples: int = 24, noise: float = 0.0, seed: int = 0) -> Found:
        """Expected gradients between random points of the zero/blur/mean background and the image."""
        from captum.attr import GradientShap

        background = baseline_set(x)
        raw = GradientShap(score).attribute(x, baselines=background, n_samples=samples,
                                            stdevs=float(noise) * float(x.max() - x.min()))
        return Found(raw, channel_map(raw, "sum"), True, AttributionInsight(samples=samples, baselines=tuple(BASELINES)))


# ---------------------------------------------------------------------------------------------
# Layer methods


class _Layer(CaptumMethod):
    needs_module = True

    def layer_of(self, score: Score, x: torch.Tensor, layer: str | None, grid) -> tuple[str, nn.Module]:
        if layer is None:
            layer = default_layer(self.module, x[:1], grid)
        return layer, resolve(score.model, layer)


class GradCAM(_Layer):
    name = "gradcam"
    title = "Grad-CAM (Selvaraju et al.)"
    captum = "LayerGradCam"
    single_pass = True

    def run(self, score, x, *, layer: str | None = None, grid: tuple[int, int] | None = None, relu: bool = True) -> Found:
        """``layer``: a module name; default: the last spatial layer, or the head level's (``grid``).
        ``relu=False`` keeps the negative part (regions that speak against the target)."""
        from captum.attr import LayerGradCam

        layer, module = self.layer_of(score, x, layer, grid)
        raw = LayerGradCam(score, module).attribute(x, relu_attributions=relu)
        if not isinstance(raw, torch.Tensor) or raw.ndim != 4:
            raise AttributionError(f"layer {layer!r} does not produce a feature map (N, C, h, w)")
        return Found(raw, _upsample(raw, x.shape[-2:]), not relu,
                     AttributionInsight(layer=layer, resolution=_grid(raw), relu=relu))


class GuidedGradCAM(_Layer):
    name = "guided_gradcam"
    title = "Guided Grad-CAM (Selvaraju et al.)"
    captum = "GuidedGradCam"

    single_pass = False  # guided backpropagation's pass and Grad-CAM's are separate

    def expected_items(self, x, options):
        return 2 * x.shape[0]

    def run(self, score, x, *, layer: str | None = None, grid: tuple[int, int] | None = None) -> Found:
        from captum.attr import GuidedGradCam

        layer, module = self.layer_of(score, x, layer, grid)
        raw = GuidedGradCam(score, module).attribute(x.clone().requires_grad_(True))
        return Found(raw, channel_map(raw, "abs_max"), False, AttributionInsight(layer=layer, reduction="abs_max"))


class LayerConductance(_Layer):
    name = "layer_conductance"
    title = "Layer conductance (Dhamdhere et al.)"
    captum = "LayerConductance"
    completeness = True

    def expected_items(self, x, options):
        return x.shape[0] * (options.get("steps", 32) + 1)

    def run(self, score, x, *, layer: str | None = None, grid: tuple[int, int] | None = None, steps: int = 32,
            baseline="zero", batch_size: int = 16) -> Found:
        """Conductance of every unit of ``layer``, summed over its channels; completeness holds
        over the layer (Σ = f(x) − f(baseline), up to the integration error)."""
        from captum.attr import LayerConductance

        layer, module = self.layer_of(score, x, layer, grid)
        reference = _baseline(x, baseline)
        raw = LayerConductance(score, module).attribute(x, baselines=reference, n_steps=steps, method="gausslegendre",
                                                        internal_batch_size=batch_size)
        if raw.ndim != 4:
            raise AttributionError(f"layer {layer!r} does not produce a feature map (N, C, h, w)")
        summed = raw.sum(dim=1, keepdim=True)
        return Found(raw, _upsample(summed, x.shape[-2:]), True,
                     AttributionInsight(layer=layer, resolution=_grid(raw), steps=steps),
                     float(raw[0].detach().double().sum()), _gap(score, x, reference[:1]))


# ---------------------------------------------------------------------------------------------
# Perturbation methods over a grid of cells


class _Cells(CaptumMethod):
    """Methods that switch whole cells of ``cell`` pixels between the image and the baseline."""

    default_samples = 0

    def cell_size(self, x: torch.Tensor, cell: int | None) -> int:
        return int(cell) if cell else max(4, int(x.shape[-1]) // 7)

    def features(self, x, cell) -> int:
        size = self.cell_size(x, cell)
        return math.ceil(x.shape[-2] / size) * math.ceil(x.shape[-1] / size)

    def finish(self, raw: torch.Tensor, mask: torch.Tensor, insight: AttributionInsight, completeness: bool, score, x,
               reference) -> Found:
        maps = channel_map(raw, "mean")  # every colour of a cell carries the cell's value
        total = _feature_total(maps[0], mask) if completeness else None
        gap = _gap(score, x, reference[:1]) if completeness else None
        return Found(raw, maps, True, insight, total, gap)


class FeatureAblation(_Cells):
    name = "feature_ablation"
    title = "Feature ablation"
    captum = "FeatureAblation"

    def expected_items(self, x, options):
        return x.shape[0] * (self.features(x, options.get("cell")) + 1)

    def run(self, score, x, *, cell: int | None = None, baseline="zero", batch_size: int = 16) -> Found:
        """Each cell replaced by the baseline, one at a time: the score's drop is the cell's value."""
        from captum.attr import FeatureAblation

        mask = grid_mask(x.shape, self.cell_size(x, cell)).to(x.device)
        reference = _baseline(x, baseline)
        raw = FeatureAblation(score).attribute(x, baselines=reference, feature_mask=mask, perturbations_per_eval=batch_size)
        return self.finish(raw, mask.cpu(), AttributionInsight(cell=self.cell_size(x, cell)), False, score, x, reference)


class ShapleyValueSampling(_Cells):
    name = "shapley_value_sampling"
    title = "Shapley value sampling (Castro et al.)"
    captum = "ShapleyValueSampling"
    stochastic = True
    completeness = True

    def expected_items(self, x, options):
        return x.shape[0] * options.get("samples", 4) * (self.features(x, options.get("cell")) + 1)

    def run(self, score, x, *, cell: int | None = None, samples: int = 4, baseline="zero", seed: int = 0,
            batch_size: int = 16) -> Found:
        """``samples`` random orders of the cells; along each, every cell's marginal effect. Each
        order adds up exactly to f(x) − f(baseline), so their average does too."""
        from captum.attr import ShapleyValueSampling

        mask = grid_mask(x.shape, self.cell_size(x, cell)).to(x.device)
        reference = _baseline(x, baseline)
        raw = ShapleyValueSampling(score).attribute(x, baselines=reference, feature_mask=mask, n_samples=samples,
                                                    perturbations_per_eval=batch_size)
        return self.finish(raw, mask.cpu(), AttributionInsight(cell=self.cell_size(x, cell), samples=samples), True, score, x,
                           reference)


class _Surrogate(_Cells):
    """Kernel SHAP and LIME: fit a linear model on random cell subsets (one input item at a time)."""

    stochastic = True

    def expected_items(self, x, options):
        return x.shape[0] * (options.get("samples", 200) + 1)

    def make(self, score):  # pragma: no cover
        raise NotImplementedError

    def run(self, score, x, *, cell: int | None = None, samples: int = 200, baseline="zero", seed: int = 0,
            batch_size: int = 16) -> Found:
        mask = grid_mask(x.shape, self.cell_size(x, cell)).to(x.device)
        reference = _baseline(x, baseline)
        explainer = self.make(score)
        raw = torch.cat([explainer.attribute(x[i:i + 1], baselines=reference[i:i + 1], feature_mask=mask,
                                             n_samples=samples, perturbations_per_eval=batch_size)
                         for i in range(x.shape[0])])
        return self.finish(raw, mask.cpu(), AttributionInsight(cell=self.cell_size(x, cell), samples=samples), False, score, x,
                           reference)


class KernelShap(_Surrogate):
    name = "kernel_shap"
    title = "Kernel SHAP (Lundberg & Lee)"
    captum = "KernelShap"

    def make(self, score):
        from captum.attr import KernelShap

        return KernelShap(score)


class Lime(_Surrogate):
    name = "lime"
    title = "LIME (Ribeiro et al.)"
    captum = "Lime"

    def make(self, score):
        from captum.attr import Lime

        return Lime(score)


CAPTUM_METHODS: tuple[type[CaptumMethod], ...] = (
    Saliency, InputXGradient, GuidedBackprop, Deconvolution, IntegratedGradients, SmoothGrad, VarGrad, DeepLift,
    DeepLiftShap, GradientShap, GradCAM, GuidedGradCAM, LayerConductance, FeatureAblation, ShapleyValueSampling,
    KernelShap, Lime)
