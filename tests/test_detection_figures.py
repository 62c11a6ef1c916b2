"""The detection page's precision/recall figures, from a hand-checkable evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from cvdemo.detection.figures import ap_per_iou_figure, precision_recall_figure
from cvdemo.detection.metrics import COCO_IOU_THRESHOLDS, ImageTruth, evaluate
from cvdemo.results import Detections

CLASSES = ["cat", "dog"]


@pytest.fixture(scope="module")
def result():
    # Two cats found at scores 0.9 and 0.7 around a false alarm at 0.8; one dog found at 0.6.
    truth = {"a.png": ImageTruth([[10, 10, 50, 60], [100, 100, 180, 150]], ["cat", "cat"]),
             "b.png": ImageTruth([[0, 0, 30, 30]], ["dog"])}
    predictions = {"a.png": Detections([[10, 10, 50, 60], [300, 10, 350, 60], [100, 100, 180, 150]], [0.9, 0.8, 0.7], [0, 0, 0],
                                       CLASSES, (400, 400)),
                   "b.png": Detections([[0, 0, 30, 30]], [0.6], [1], CLASSES, (400, 400))}
    return evaluate(truth, predictions)


def test_precision_recall_curve_walks_down_the_scores_with_its_envelope(result):
    figure = precision_recall_figure(result.classes, ["cat"])
    curve, envelope = figure.data  # the dog was not chosen
    # after 0.9: 1 of 1 right, half the cats; after 0.8: 1 of 2; after 0.7: 2 of 3, every cat
    np.testing.assert_allclose(curve.x, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(curve.y, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(curve.customdata, [0.9, 0.8, 0.7], rtol=1e-6)  # float32 scores
    np.testing.assert_allclose(envelope.y, [1.0, 2 / 3, 2 / 3])  # the best precision at this recall or more
    assert envelope.line.shape == "hv" and not envelope.showlegend
    cat = next(c for c in result.classes if c.name == "cat")
    assert curve.name == f"cat (AP@.5 {cat.ap50:.2f})"


def test_ap_per_iou_has_one_point_per_coco_threshold_for_each_chosen_class(result):
    figure = ap_per_iou_figure(result.classes, ["cat", "dog"])
    assert [trace.name for trace in figure.data] == ["cat", "dog"]
    for trace in figure.data:
        np.testing.assert_allclose(trace.x, COCO_IOU_THRESHOLDS)
    np.testing.assert_allclose(figure.data[1].y, np.ones(len(COCO_IOU_THRESHOLDS)))  # the dog's box is exact
