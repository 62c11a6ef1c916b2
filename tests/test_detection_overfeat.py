"""OverFeat-style box regression: the closed-form ridge against scikit-learn, and localisation on
held-out composed pictures against the whole-picture baseline."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge

from cvdemo.detection import overfeat


def test_ridge_head_matches_scikit_learn():
    rng = np.random.default_rng(0)
    maps = torch.from_numpy(rng.normal(size=(6, 1280, 7, 7)).astype(np.float32))
    boxes = np.array([[10, 20, 150, 200], [0, 0, 224, 224], [60, 60, 120, 100], [5, 100, 80, 220], [100, 10, 220, 90],
                      [30, 30, 200, 200]], dtype=np.float64)
    regressor = overfeat.fit_regressor(maps, boxes, ridge=5.0)
    design = overfeat._design(maps)[:, :-1]
    offsets, inside = overfeat._targets(boxes)
    reference = Ridge(alpha=5.0, fit_intercept=True, solver="cholesky").fit(design[inside], offsets[inside])
    np.testing.assert_allclose(regressor.weights[:-1], reference.coef_.T, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(regressor.weights[-1], reference.intercept_, rtol=1e-6, atol=1e-9)
    head = overfeat.fit_object_head(maps, boxes, ridge=5.0)
    reference = Ridge(alpha=5.0, fit_intercept=True, solver="cholesky").fit(design, inside.astype(np.float64))
    np.testing.assert_allclose(head.weights[:-1], reference.coef_, rtol=1e-6, atol=1e-9)


def test_targets_by_hand():
    # box (40, 40, 100, 120): the cell centred at (48, 48) is inside; its offsets are (−8, −8, 52, 72) / 32
    offsets, inside = overfeat._targets(np.array([[40.0, 40.0, 100.0, 120.0]]))
    index = 1 * 7 + 1  # row 1, column 1: centre (48, 48)
    assert inside[index] and not inside[0]
    np.testing.assert_allclose(offsets[index], np.array([-8, -8, 52, 72]) / 32)
    assert inside.sum() == 2 * 3  # centres 48, 80 across; 48, 80, 112 down


def test_merge_weights_the_confident_cells():
    boxes = np.array([[0, 0, 10, 10], [10, 10, 30, 30], [100, 100, 200, 200]], dtype=np.float64)
    merged = overfeat.merge(boxes, np.array([0.6, 0.2, 0.1]), keep=0.3)  # the third is below 0.3 × 0.6
    np.testing.assert_allclose(merged, (0.6 * boxes[0] + 0.2 * boxes[1]) / 0.8)


def test_regression_localises_a_held_out_object(mobilenet, coffee):
    cup = coffee[18:308, 172:408]
    result = overfeat.train_and_test(mobilenet, cup, train_count=32, test_count=8)
    _, inside = overfeat._targets(result.test.boxes)
    confidence = result.confidence.ravel()
    assert confidence[inside].mean() > confidence[~inside].mean() + 0.3  # the object head finds the cup's cells
    # Answering "the whole picture" scores about 0.3 on these; the regression head well above it.
    assert result.iou.mean() > result.whole_picture_iou.mean() + 0.25
