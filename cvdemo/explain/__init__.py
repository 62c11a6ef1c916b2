"""Explainability: what did the network look at? One captum-style API over many methods.

``attribute(method, model, inputs, target, **options) -> Attribution``; see :mod:`cvdemo.explain.core`.
Captum does the gradient, path, layer and perturbation methods (:mod:`cvdemo.explain.captum_methods`);
Grad-CAM++, LayerCAM and EigenCAM, which captum lacks, are in :mod:`cvdemo.explain.cams`; exact
fast occlusion and zennit-based LRP are the app's own, with captum as their oracle in the tests.
"""

from cvdemo.explain.cams import EigenCAM, GradCAMPlusPlus, LayerCAM
from cvdemo.explain.captum_methods import CAPTUM_METHODS
from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionMethod,
    Cancelled,
    Conservation,
    attribute,
    private_copy,
)
from cvdemo.explain.lrp import LRPAlphaBeta, LRPEpsilon, LRPGamma
from cvdemo.explain.occlusion import Occlusion

METHODS: dict[str, type[AttributionMethod]] = {
    cls.name: cls
    for cls in (Occlusion, *CAPTUM_METHODS, GradCAMPlusPlus, LayerCAM, EigenCAM, LRPEpsilon, LRPGamma, LRPAlphaBeta)
}
# Fast enough for a live video stream: one forward and one backward pass.
LIVE_METHODS = tuple(name for name, cls in METHODS.items() if cls.single_pass)

__all__ = ["Attribution", "AttributionError", "AttributionMethod", "Cancelled", "Conservation", "LIVE_METHODS",
           "METHODS", "attribute", "private_copy"]
