"""Oracle: captum's own ``Occlusion`` against the app's occlusion on real networks and photos.

The app's occlusion recomputes only what each patch can change (tests/test_explain_occlusion.py
shows it equals a one-patch-at-a-time loop); captum occludes the whole input patch by patch. On
the same network, target, window, stride and baseline, both are the same sums of the same
forward passes, so they agree up to float32 rounding of outputs of size ~10: 1e-3 relative with
an absolute floor of 2e-4 (the incremental path adds partial sums in another order).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import Occlusion

from cvdemo import registry
from cvdemo.explain import attribute

pytestmark = pytest.mark.oracle


def _captum_map(network, inputs, target, patch, stride) -> np.ndarray:
    channels = inputs.shape[1]
    with torch.no_grad():
        theirs = Occlusion(network).attribute(inputs, sliding_window_shapes=(channels, patch, patch), strides=(channels, stride, stride),
                                              baselines=0.0, target=target, perturbations_per_eval=64)
    return theirs[0, 0].numpy()


def test_overlapping_windows_on_the_emotion_graph_converted_from_tfjs_average_like_captum(astronaut):
    classifier = registry.get("emotion").build("cpu")
    inputs = classifier.preprocess(astronaut[60:190, 170:280])
    target = int(classifier.network(inputs).argmax())
    ours = attribute("occlusion", classifier.network, inputs, target, patch=16, stride=8, baseline="zero")
    np.testing.assert_allclose(ours.map, _captum_map(classifier.network, inputs, target, 16, 8), rtol=1e-3, atol=2e-4)
    assert np.abs(ours.map).max() > 1e-2
