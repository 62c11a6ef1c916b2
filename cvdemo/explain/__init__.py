"""Explainability: what did the network look at? One captum-style API over several methods.

``attribute(method, model, inputs, target, **options) -> Attribution``; the shared types are in
:mod:`cvdemo.explain.core`.
Each method is also a class with a uniform ``Method(model).attribute(inputs, target, **options)``.
"""

from __future__ import annotations

from typing import Callable

import torch

from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionMethod,
    Cancelled,
    Conservation,
    TopClass,
    check_inputs,
    private_copy,
)
from cvdemo.explain.gradients import GradCAM, InputXGradient, IntegratedGradients, Saliency, SmoothGrad, conv_layers
from cvdemo.explain.lrp import LRPAlphaBeta, LRPEpsilon, LRPGamma
from cvdemo.explain.occlusion import Occlusion

METHODS: dict[str, type[AttributionMethod]] = {
    cls.name: cls
    for cls in (Occlusion, Saliency, InputXGradient, SmoothGrad, IntegratedGradients, GradCAM,
                LRPEpsilon, LRPGamma, LRPAlphaBeta)
}
# Fast enough for a live video stream (one forward + one backward pass).
LIVE_METHODS = ("gradcam", "gradient")


def method_class(name: str) -> type[AttributionMethod]:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise AttributionError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[key]


ALIASES = {
    "saliency": "gradient",
    "vanilla_gradient": "gradient",
    "input_x_gradient": "gradient_x_input",
    "ig": "integrated_gradients",
    "grad_cam": "gradcam",
    "lrp": "lrp_epsilon",
    "lrp_alphabeta": "lrp_alpha_beta",
}


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


__all__ = ["Attribution", "AttributionError", "AttributionMethod", "Cancelled", "Conservation", "GradCAM",
           "InputXGradient", "IntegratedGradients", "LIVE_METHODS", "LRPAlphaBeta", "LRPEpsilon", "LRPGamma",
           "METHODS", "Occlusion", "Saliency", "SmoothGrad", "attribute", "conv_layers", "method_class", "private_copy"]
