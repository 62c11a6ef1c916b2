"""Class activation maps captum does not have: Grad-CAM++, LayerCAM and EigenCAM.

One template (:class:`LayerMap`) reads a layer's activations ``A`` (N, K, h, w) and the gradient
``g = ∂score/∂A`` in one forward and one backward pass on a private copy, upsamples the result to
the input and reports it; each method differs only in :meth:`LayerMap.combine`:

* **Grad-CAM++** (Chattopadhay et al. 2018): per channel, pixel weights
  ``α = g² / (2 g² + Σ_ab A · g³)`` (0 where the denominator is 0), channel weight
  ``w_k = Σ_ij α · ReLU(g)``, map ``ReLU(Σ_k w_k A_k)``. The paper writes the score as
  ``exp(S)``; its derivatives are then ``exp(S)`` times powers of ``g`` and that positive factor
  is left out, as every implementation does (it scales the map, not its shape).
* **LayerCAM** (Jiang et al. 2021): ``ReLU(Σ_k ReLU(g_k) · A_k)`` — each position weighted by its
  own positive gradient instead of a channel average, so shallow layers give fine maps.
* **EigenCAM** (Muhammad & Yeasin 2020): the activations projected on their first principal
  direction, ``A V₁`` with ``A = U Σ Vᵀ`` (positions × channels, not centred, as in the paper). No
  gradient: it shows what the layer responds to most, whatever the class. The SVD's sign is
  arbitrary; it is chosen so the map sums to a positive number.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionInsight,
    AttributionMethod,
    ProgressFn,
    Timer,
    model_device,
    private_copy,
    report,
    select_scores,
)
from cvdemo.explain.layers import default_layer, resolve


class LayerMap(AttributionMethod):
    """Template: hook ``layer``, one forward and backward pass, :meth:`combine`, upsample."""

    needs_module = True
    single_pass = True
    uses_gradient = True
    signed = False

    def combine(self, activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """(N, K, h, w) activations and gradients → (N, 1, h, w) map."""
        raise NotImplementedError

    def attribute(self, inputs, target=None, *, layer: str | None = None, grid: tuple[int, int] | None = None,
                  progress: ProgressFn | None = None) -> Attribution:
        """``layer``: a module name (see :mod:`cvdemo.explain.layers`); default: the last spatial
        layer, or the input of the head level's prediction layer with that ``grid``."""
        x = inputs.detach().to(model_device(self.model, inputs.device)).float()
        timer = Timer(x.device)
        if layer is None:
            layer = default_layer(self.module, x[:1], grid)
        report(progress, 0.0, f"{self.title}: one forward and one backward pass")
        with private_copy(self.module, "layer-map") as network:
            module = resolve(network, layer)
            captured: dict[str, object] = {}
            handle = module.register_forward_hook(lambda _m, _a, out: captured.__setitem__("a", out))
            try:
                with torch.enable_grad():
                    xg = x.clone().requires_grad_(True)  # the graph must reach the hooked layer
                    scores = select_scores(network(xg), target)
                    activation = captured.get("a")
                    if not isinstance(activation, torch.Tensor) or activation.ndim != 4:
                        raise AttributionError(f"layer {layer!r} does not produce a feature map (N, C, h, w)")
                    gradient = (torch.autograd.grad(scores.sum(), activation)[0] if self.uses_gradient
                                else torch.zeros_like(activation))
            finally:
                handle.remove()
        cam = self.combine(activation.detach().double(), gradient.detach().double()).float()
        upsampled = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        report(progress, 1.0, f"{self.title}: done")
        return Attribution(upsampled[:, 0].cpu().numpy().astype(np.float32), cam.cpu(), self.name, target,
                           timer.seconds(), output=float(scores[0].detach()), signed=self.signed,
                           insight=AttributionInsight(layer=layer, resolution=(int(cam.shape[-2]), int(cam.shape[-1]))))


class GradCAMPlusPlus(LayerMap):
    name = "gradcam_plus_plus"
    title = "Grad-CAM++ (Chattopadhay et al.)"

    def combine(self, activation, gradient):
        squared = gradient.pow(2)
        denominator = 2 * squared + activation.sum(dim=(2, 3), keepdim=True) * gradient.pow(3)
        alpha = torch.where(denominator != 0, squared / torch.where(denominator != 0, denominator, 1.0), 0.0)
        weights = (alpha * gradient.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
        return (weights * activation).sum(dim=1, keepdim=True).clamp(min=0)


class LayerCAM(LayerMap):
    name = "layercam"
    title = "LayerCAM (Jiang et al.)"

    def combine(self, activation, gradient):
        return (gradient.clamp(min=0) * activation).sum(dim=1, keepdim=True).clamp(min=0)


class EigenCAM(LayerMap):
    name = "eigencam"
    title = "EigenCAM (Muhammad & Yeasin)"
    uses_gradient = False
    signed = True  # a projection: negative where a position points away from the main direction

    def combine(self, activation, gradient):
        maps = []
        for item in activation:  # (K, h, w)
            channels, height, width = item.shape
            positions = item.reshape(channels, -1).T  # (h·w, K)
            _, _, right = torch.linalg.svd(positions, full_matrices=False)
            projection = positions @ right[0]
            if projection.sum() < 0:
                projection = -projection
            maps.append(projection.reshape(1, height, width))
        return torch.stack(maps)
