""""Why do these two match?": occlusion on the chips, scoring the similarity to the other face."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvdemo.faces import samples, verify, why


@pytest.fixture(scope="module")
def pipeline():
    return verify.build_pipeline(torch.device("cpu"))


@pytest.fixture(scope="module")
def two_faces(pipeline):
    a = pipeline.faces(samples.sample("astronaut (Eileen Collins)"))[0]
    b = pipeline.faces(samples.sample("astronaut, half as bright"))[0]
    return a, b


def test_occlusion_maps_are_distance_changes(pipeline, two_faces):
    a, b = two_faces
    # 3×3 patches of 50 px: a corner pixel is covered by exactly one patch, so its value is that
    # patch's effect: the distance with the patch greyed out minus the plain distance.
    result = why.why_match(pipeline.embedder, a.chip, b.chip, patch=50, stride=50, baseline="zero")
    assert result.map_a.shape == result.map_b.shape == (150, 150) and result.passes == 9
    assert result.distance == pytest.approx(verify.compare(a, b).distance, abs=1e-5)
    occluded = pipeline.embedder.preprocess(a.chip).clone()
    occluded[..., :50, :50] = 0  # "zero" in the network's input space: dlib's mean colour
    d_occluded = float(torch.linalg.vector_norm(pipeline.embedder.embed_tensor(occluded)[0] - torch.from_numpy(b.descriptor)))
    assert result.map_a[0, 0] == pytest.approx(d_occluded - result.distance, abs=1e-4)
    # Greying out the middle of the face (eyes, nose) costs the match more than a corner does.
    centre, corners = result.map_a[60:90, 60:90].mean(), np.mean([result.map_a[:50, :50].mean(), result.map_a[100:, 100:].mean()])
    assert centre > corners


def test_progress_covers_both_chips(pipeline, two_faces):
    seen = []
    why.why_match(pipeline.embedder, *(f.chip for f in two_faces), patch=75, stride=75,
                  progress=lambda fraction, message: seen.append(fraction))
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0) and any(0.4 < f < 0.6 for f in seen)
