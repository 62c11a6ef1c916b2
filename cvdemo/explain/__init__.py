"""Explainability: what did the network look at? One captum-style API over many methods.

``attribute(method, model, inputs, target, **options) -> Attribution``; the shared types are in
:mod:`cvdemo.explain.core`.
Captum does the gradient, path, layer and perturbation methods (:mod:`cvdemo.explain.captum_methods`);
Grad-CAM++, LayerCAM and EigenCAM, which captum lacks, are in :mod:`cvdemo.explain.cams`; exact
fast occlusion and zennit-based LRP are the app's own, with captum as their oracle in the tests.
"""

from __future__ import annotations

from typing import Callable

import torch

from cvdemo.explain.cams import EigenCAM, GradCAMPlusPlus, LayerCAM
from cvdemo.explain.captum_methods import CAPTUM_METHODS
from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionInsight,
    AttributionMethod,
    Cancelled,
    Conservation,
    TopClass,
    check_inputs,
    private_copy,
)
from cvdemo.explain.lrp import LRPAlphaBeta, LRPEpsilon, LRPGamma
from cvdemo.explain.occlusion import Occlusion

_CLASSES: tuple[type[AttributionMethod], ...] = (  # annotated: mypy joins a mixed tuple literal to object
    Occlusion, *CAPTUM_METHODS, GradCAMPlusPlus, LayerCAM, EigenCAM, LRPEpsilon, LRPGamma, LRPAlphaBeta)
METHODS: dict[str, type[AttributionMethod]] = {cls.name: cls for cls in _CLASSES}
# Fast enough for a live video stream: one forward and one backward pass.
LIVE_METHODS = tuple(name for name, cls in METHODS.items() if cls.single_pass)

ALIASES = {
    "gradient": "saliency",
    "vanilla_gradient": "saliency",
    "gradient_x_input": "input_x_gradient",
    "ig": "integrated_gradients",
    "grad_cam": "gradcam",
    "gradcam++": "gradcam_plus_plus",
    "lrp": "lrp_epsilon",
    "lrp_alphabeta": "lrp_alpha_beta",
}


def method_class(name: str) -> type[AttributionMethod]:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise AttributionError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[key]


def attribute(method: str, model: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
              target: int | None | TopClass = None, **options) -> Attribution:
    """Explain ``model``'s score for ``target`` on ``inputs`` with ``method`` (see ``METHODS``).

    With a :class:`TopClass` target the result's ``target`` is the class that pass chose for the
    first item.
    """
    explainer = method_class(method)(model)
    if isinstance(target, TopClass) and not explainer.single_pass:
        raise AttributionError(f"{explainer.title or method} runs several passes; give it a class, not the top class")
    result = explainer.attribute(check_inputs(inputs), target, **options)
    if isinstance(target, TopClass):
        result.target = int(target.classes[0])
    return result


__all__ = ["ALIASES", "Attribution", "AttributionError", "AttributionInsight", "AttributionMethod", "Cancelled", "Conservation",
           "LIVE_METHODS", "METHODS", "attribute", "method_class", "private_copy"]
