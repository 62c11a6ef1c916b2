"""Explainability: what did the network look at? One captum-style API over several methods.

``attribute(method, model, inputs, target, **options) -> Attribution``; see :mod:`cvdemo.explain.core`.
Each method is also a class with a uniform ``Method(model).attribute(inputs, target, **options)``.
"""

from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionMethod,
    Cancelled,
    Conservation,
    attribute,
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

__all__ = ["Attribution", "AttributionError", "AttributionMethod", "Cancelled", "Conservation", "GradCAM",
           "InputXGradient", "IntegratedGradients", "LIVE_METHODS", "LRPAlphaBeta", "LRPEpsilon", "LRPGamma",
           "METHODS", "Occlusion", "Saliency", "SmoothGrad", "attribute", "conv_layers", "private_copy"]
