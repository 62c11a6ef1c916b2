"""Gradient-based saliency: what small changes of the input would change the score.

* ``gradient`` — Simonyan et al. (2014): ∂score/∂pixel; shown as the largest |gradient| over the
  colour channels, as in the paper (a sensitivity, not signed evidence).
* ``gradient_x_input`` — gradient × input: a first-order estimate of each pixel's contribution
  relative to the all-zero input (signed).
* ``smoothgrad`` — Smilkov et al. (2017): the gradient averaged over noisy copies of the input,
  which removes the high-frequency speckle of the raw gradient.
* ``integrated_gradients`` — Sundararajan et al. (2017): (x − x′) · ∫ ∇f(x′ + α(x − x′)) dα.
  Completeness says the attributions add up to f(x) − f(x′); the *convergence delta* is how far
  the numerical integral misses that (more steps → smaller).
* ``gradcam`` — Selvaraju et al. (2017): a layer's feature maps weighted by the spatial mean of
  the score's gradient, ReLU'd, upsampled to the input: where that layer saw evidence.

The model is only called (never changed), except by Grad-CAM, which borrows a private copy to hook.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionMethod,
    ProgressFn,
    Timer,
    channel_map,
    model_device,
    private_copy,
    report,
    select_scores,
)
from cvdemo.explain.occlusion import make_baseline


def input_gradients(model, inputs: torch.Tensor, target: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """∂score/∂inputs for every item of the batch (items are independent), and the scores."""
    with torch.enable_grad():
        x = inputs.detach().clone().requires_grad_(True)
        scores = select_scores(model(x), target)
        (gradient,) = torch.autograd.grad(scores.sum(), x)
    return gradient.detach(), scores.detach()


def _device_inputs(model, inputs: torch.Tensor) -> torch.Tensor:
    return inputs.detach().to(model_device(model, inputs.device)).float()


class Saliency(AttributionMethod):
    name = "gradient"
    title = "Vanilla gradient (Simonyan et al.)"
    single_pass = True

    def attribute(self, inputs, target=None, *, reduction: str = "abs_max", **_ignored) -> Attribution:
        x = _device_inputs(self.model, inputs)
        timer = Timer(x.device)
        gradient, scores = input_gradients(self.model, x, target)
        maps = channel_map(gradient, reduction)
        return Attribution(maps, gradient.cpu(), self.name, target, timer.seconds(), output=float(scores[0]),
                           signed=reduction != "abs_max", extras={"reduction": reduction})


class InputXGradient(AttributionMethod):
    name = "gradient_x_input"
    title = "Gradient × input"
    single_pass = True

    def attribute(self, inputs, target=None, *, reduction: str = "sum", **_ignored) -> Attribution:
        x = _device_inputs(self.model, inputs)
        timer = Timer(x.device)
        gradient, scores = input_gradients(self.model, x, target)
        raw = gradient * x
        return Attribution(channel_map(raw, reduction), raw.cpu(), self.name, target, timer.seconds(),
                           output=float(scores[0]), signed=reduction != "abs_max", extras={"reduction": reduction})


class SmoothGrad(AttributionMethod):
    name = "smoothgrad"
    title = "SmoothGrad (Smilkov et al.)"

    def attribute(self, inputs, target=None, *, samples: int = 25, noise: float = 0.15, seed: int = 0,
                  batch_size: int = 16, reduction: str = "abs_max", progress: ProgressFn | None = None,
                  **_ignored) -> Attribution:
        """``noise``: σ of the Gaussian as a fraction of the input's value range (the paper's 10–20 %)."""
        if samples < 1:
            raise AttributionError("SmoothGrad needs at least one sample")
        x = _device_inputs(self.model, inputs)
        timer = Timer(x.device)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        total = torch.zeros_like(x)
        output = None
        for item in range(x.shape[0]):
            xi = x[item:item + 1]
            sigma = float(noise) * float(xi.max() - xi.min())
            done = 0
            while done < samples:
                count = min(batch_size, samples - done)
                eps = torch.randn((count, *xi.shape[1:]), generator=generator).to(x.device) * sigma
                gradient, _ = input_gradients(self.model, xi + eps, target)
                total[item] += gradient.sum(0)
                done += count
                report(progress, (item + done / samples) / x.shape[0], f"SmoothGrad: {done}/{samples} noisy copies")
        mean = total / samples
        with torch.no_grad():
            output = float(select_scores(self.model(x[:1]), target)[0])
        return Attribution(channel_map(mean, reduction), mean.cpu(), self.name, target, timer.seconds(), output=output,
                           signed=reduction != "abs_max",
                           extras={"samples": samples, "noise": noise, "reduction": reduction})


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [0, 1]: exact for polynomials of degree 2·steps − 1, so far fewer steps
    than a Riemann sum reach the same convergence delta on smooth paths."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1.0) / 2.0, weights / 2.0


class IntegratedGradients(AttributionMethod):
    name = "integrated_gradients"
    title = "Integrated Gradients (Sundararajan et al.)"

    def attribute(self, inputs, target=None, *, steps: int = 32, baseline="zero", rule: str = "gausslegendre",
                  batch_size: int = 16, progress: ProgressFn | None = None, **_ignored) -> Attribution:
        """``baseline``: zero (the network's 0 — the dataset mean colour for normalised inputs), blur,
        mean, a number or a tensor. ``rule``: gausslegendre or riemann_trapezoid."""
        if steps < 2:
            raise AttributionError("Integrated Gradients needs at least 2 steps")
        x = _device_inputs(self.model, inputs)
        timer = Timer(x.device)
        reference = make_baseline(x, baseline)
        if rule == "gausslegendre":
            alphas, weights = gauss_legendre(steps)
        elif rule == "riemann_trapezoid":
            alphas = np.linspace(0.0, 1.0, steps)
            weights = np.full(steps, 1.0 / (steps - 1))
            weights[[0, -1]] /= 2.0
        else:
            raise AttributionError(f"unknown integration rule {rule!r} (gausslegendre, riemann_trapezoid)")
        raw = torch.zeros_like(x)
        deltas = []
        for item in range(x.shape[0]):
            xi, bi = x[item:item + 1], reference[item:item + 1]
            integral = torch.zeros_like(xi)
            for begin in range(0, steps, batch_size):
                a = torch.as_tensor(alphas[begin:begin + batch_size], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
                w = torch.as_tensor(weights[begin:begin + batch_size], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
                gradient, _ = input_gradients(self.model, bi + a * (xi - bi), target)
                integral += (gradient * w).sum(0, keepdim=True)
                done = min(steps, begin + batch_size)
                report(progress, (item + done / steps) / x.shape[0], f"Integrated Gradients: {done}/{steps} steps")
            raw[item] = ((xi - bi) * integral)[0]
            with torch.no_grad():
                ends = select_scores(self.model(torch.cat([xi, bi])), target).double()
            deltas.append((float(raw[item].double().sum()) - float(ends[0] - ends[1]), float(ends[0]), float(ends[1])))
        delta, output, base_output = deltas[0]
        return Attribution(channel_map(raw, "sum"), raw.cpu(), self.name, target, timer.seconds(), output=output,
                           delta=delta, extras={"steps": steps, "rule": rule, "baseline_output": base_output,
                                                "baseline": baseline if isinstance(baseline, str) else "custom",
                                                "deltas": [d[0] for d in deltas]})


# ---------------------------------------------------------------------------------------------
# Grad-CAM


def conv_layers(network: nn.Module) -> list[str]:
    """Names of the 2-D convolutions, in registration order (≈ forward order), for a layer picker."""
    return [name for name, module in network.named_modules() if isinstance(module, nn.Conv2d)]


def default_cam_layer(network: nn.Module, example: torch.Tensor | None = None) -> str:
    """Grad-CAM's usual choice: the last module (in forward order) that still outputs a spatial
    feature map (> 1×1) — ``layer4`` of a ResNet, ``features`` of MobileNetV2/VGG (after the
    last activation), rather than a convolution's raw pre-normalisation output.

    The answer depends only on the network's structure and the input size, so it is found by one
    probe pass and remembered: live Grad-CAM asks for every frame.
    """
    names = conv_layers(network)
    if not names:
        raise AttributionError("the network has no 2-D convolution for Grad-CAM")
    if example is None:
        return names[-1]
    known = _CAM_LAYERS.setdefault(network, {})
    size = tuple(example.shape[1:])
    if size not in known:
        known[size] = _probe_last_spatial_layer(network, example) or names[-1]
    return known[size]


_CAM_LAYERS: "weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], str]]" = weakref.WeakKeyDictionary()


def _probe_last_spatial_layer(network: nn.Module, example: torch.Tensor) -> str | None:
    fired: list[str] = []
    handles = []
    with private_copy(network, "layer-probe") as probe:  # hooks never go on a shared network
        for name, module in probe.named_modules():
            if not name:
                continue

            def hook(_module, _args, out, name=name):
                if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[-1] * out.shape[-2] > 1:
                    fired.append(name)

            handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                probe(example[:1].to(model_device(probe, example.device)))
        finally:
            for handle in handles:
                handle.remove()
    return fired[-1] if fired else None


def cam_layers(network: nn.Module, example: torch.Tensor | None = None) -> list[str]:
    """The layer picker's choices: the default (first) and every convolution."""
    default = default_cam_layer(network, example)
    return [default] + [name for name in conv_layers(network) if name != default]


class GradCAM(AttributionMethod):
    name = "gradcam"
    title = "Grad-CAM (Selvaraju et al.)"
    needs_module = True
    single_pass = True

    def attribute(self, inputs, target=None, *, layer: str | None = None, relu: bool = True,
                  **_ignored) -> Attribution:
        """``layer``: a module name (see :func:`conv_layers`); default: the last spatial convolution.
        ``relu=False`` keeps the negative part (regions that speak against the target)."""
        x = _device_inputs(self.model, inputs)
        timer = Timer(x.device)
        if layer is None:
            layer = default_cam_layer(self.model, x[:1])
        with private_copy(self.model, "gradcam") as network:
            try:
                module = network.get_submodule(layer)
            except AttributeError:
                raise AttributionError(f"the network has no layer {layer!r}; pick one of its convolutions") from None
            captured = {}
            handle = module.register_forward_hook(lambda _m, _a, out: captured.__setitem__("a", out))
            try:
                with torch.enable_grad():
                    xg = x.detach().clone().requires_grad_(True)  # the graph must reach the hooked layer
                    scores = select_scores(network(xg), target)
                    activation = captured.get("a")
                    if not isinstance(activation, torch.Tensor) or activation.ndim != 4:
                        raise AttributionError(f"layer {layer!r} does not produce a feature map (N, C, h, w)")
                    (gradient,) = torch.autograd.grad(scores.sum(), activation)
            finally:
                handle.remove()
        weights = gradient.mean(dim=(2, 3), keepdim=True)
        cam = (weights * activation.detach()).sum(dim=1, keepdim=True)
        if relu:
            cam = cam.clamp(min=0)
        upsampled = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return Attribution(upsampled[:, 0].cpu().numpy().astype(np.float32), cam.cpu(), self.name, target,
                           timer.seconds(), output=float(scores[0].detach()), signed=not relu,
                           extras={"layer": layer, "resolution": list(cam.shape[-2:]), "relu": relu})
