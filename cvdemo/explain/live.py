"""One webcam frame explained: the classifier's top-1 class and a fast map over the network's view."""

from __future__ import annotations

import cv2
import numpy as np
import torch.nn.functional as F

from cvdemo.explain import LIVE_METHODS, attribute, method_class
from cvdemo.explain.core import AttributionError, TopClass
from cvdemo.explain.plots import overlay_rgb
from cvdemo.explain.targets import network_view

SHOWN_SIZE = 448  # the network's 224×224 view, doubled so the map is readable in a browser


def explain_frame(classifier, rgb: np.ndarray, method: str = "gradcam", opacity: float = 0.55) -> np.ndarray:
    """``rgb`` (H×W×3 uint8) → the network's view with the top-1 class's map and label, 448×448.

    One forward pass both predicts and is explained (a :class:`TopClass` target), so a frame
    costs one forward and one backward pass.
    """
    if method_class(method).name not in LIVE_METHODS:
        raise AttributionError(f"{method} is too slow for live video; use one of {', '.join(LIVE_METHODS)}")
    inputs = classifier.preprocess(rgb).detach()
    top = TopClass()
    result = attribute(method, classifier.network, inputs, top)
    assert top.outputs is not None  # attribute's forward pass handed its scores to the target
    probability = float(F.softmax(top.outputs[0].float(), dim=0)[result.target])
    view = network_view(classifier, inputs)
    out = cv2.resize(overlay_rgb(view, result, opacity), (SHOWN_SIZE, SHOWN_SIZE), interpolation=cv2.INTER_LINEAR)
    label = f"{classifier.categories[result.target]} {probability:.0%}"
    # A dark outline under white text stays readable over any colour of the map.
    cv2.putText(out, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return out
