"""YOLO v1's layout and the lectures' loss, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cvdemo.detection import yolo_v1
from cvdemo.results import HeadLevel


def test_layouts_match_the_lectures_and_yolov3_tiny():
    assert yolo_v1.YOLO_V1.per_cell == 30  # S×S×(5B+C) with B = 2, C = 20
    assert yolo_v1.YOLO_V1.numbers == 7 * 7 * 30 == 1470
    assert yolo_v1.YOLO_V1.boxes == 98
    tiny = yolo_v1.yolov3_layout(416, (13, 26))
    assert tiny.per_cell == 255  # 3·(5+80)
    assert tiny.numbers == (13 * 13 + 26 * 26) * 255
    names = yolo_v1.v1_channel_names()
    assert len(names) == 30 and names[:5] == ["x1", "y1", "w1", "h1", "c1"] and names[-1] == "P(tvmonitor)"


def test_v1_cell_and_target_of_a_box():
    # 700×350 photo: cells of 100×50 pixels. Centre (250, 120) → column 2, row 2, at (0.5, 0.4) inside it.
    box = (200, 100, 300, 140)
    assert yolo_v1.v1_cell(box, (350, 700)) == (2, 2)
    x, y, w, h = yolo_v1.v1_target(box, (350, 700))
    assert (x, y) == pytest.approx((0.5, 0.4))
    assert (w, h) == pytest.approx((100 / 700, 40 / 350))


def _two_by_two_level() -> HeadLevel:
    """A 2×2 grid of 32-pixel cells (64×64 input), anchors 20×40 and 60×30, three classes.

    Every logit is 0 except the (anchor 0, row 0, col 1) slot: ty = ln 3 (σ = 0.75), th = ln 2
    (ĥ = 2 × anchor height), class logit 1 = ln 3.
    """
    raw = np.zeros((2, 5 + 3, 2, 2), dtype=np.float32)
    raw[0, 1, 0, 1] = math.log(3.0)
    raw[0, 3, 0, 1] = math.log(2.0)
    raw[0, 5 + 1, 0, 1] = math.log(3.0)
    return HeadLevel(name="stride 32 (2×2)", stride=32, class_scores=np.zeros((3, 2, 2)), raw=raw.reshape(16, 2, 2),
                     anchors=np.array([[20.0, 40.0], [60.0, 30.0]]))


def test_loss_terms_by_hand():
    # Ground truth 20×40 centred at (50, 28): anchor 0 fits it exactly; centre in row 0, column 1.
    loss = yolo_v1.yolo_loss([_two_by_two_level()], (40, 8, 60, 48), label=0)
    assert (loss.row, loss.col, loss.anchor) == (0, 1, 0)
    assert loss.anchor_fit == pytest.approx(1.0)
    # targets: x = 50/32 − 1, y = 28/32, w = 20/64, h = 40/64; predictions: σ(0), σ(ln 3), 20/64, 2·40/64
    assert loss.target == pytest.approx((0.5625, 0.875, 0.3125, 0.625))
    assert loss.predicted == pytest.approx((0.5, 0.75, 0.3125, 1.25))
    # predicted box centre (48, 24), 20×80 → (38, −16, 58, 64); overlap 18×40 = 720 of 1600 + 800 − 720
    assert loss.iou == pytest.approx(720 / 1680)
    terms = {term.name: term for term in loss.terms}
    assert terms["centre (x, y)"].value == pytest.approx(5 * (0.0625 ** 2 + 0.125 ** 2))
    assert terms["size (√w, √h)"].value == pytest.approx(5 * (math.sqrt(0.625) - math.sqrt(1.25)) ** 2)
    assert terms["objectness"].value == pytest.approx((3 / 7 - 0.5) ** 2)
    # 8 anchor slots, 7 of them empty, each with ĉ = σ(0) = 0.5
    assert loss.empty_slots == 7
    assert terms["no object"].value == pytest.approx(0.5 * 7 * 0.25)
    # one-hot (1, 0, 0) against (0.5, 0.75, 0.5)
    assert terms["classes"].value == pytest.approx(0.25 + 0.5625 + 0.25)
    assert loss.total == pytest.approx(sum(t.value for t in loss.terms))
    # YOLOv3's own losses on the same slots: binary cross-entropy
    bce = {term.name: term.value for term in loss.cross_entropy_terms}
    assert bce["objectness"] == pytest.approx(math.log(2))  # −log 0.5
    assert bce["no object"] == pytest.approx(7 * math.log(2))  # 7 × −log(1 − 0.5)
    assert bce["classes"] == pytest.approx(-math.log(0.5) - math.log(0.25) - math.log(0.5))
    # the predicted box, back in image pixels (scale 1, no padding)
    assert loss.predicted_box == pytest.approx((38, -16, 58, 64))


def test_the_best_fitting_anchor_picks_the_scale():
    coarse = _two_by_two_level()
    fine = HeadLevel(name="stride 16 (4×4)", stride=16, class_scores=np.zeros((3, 4, 4)),
                     raw=np.zeros((2 * 8, 4, 4), dtype=np.float32), anchors=np.array([[10.0, 14.0], [4.0, 6.0]]))
    loss = yolo_v1.yolo_loss([coarse, fine], (20, 20, 30, 34), label=2)  # 10×14: anchor 0 of the fine level
    assert (loss.level, loss.anchor, loss.row, loss.col) == (1, 0, 1, 1)
    assert loss.empty_slots == 8 + 32 - 1


def test_empty_box_is_refused():
    with pytest.raises(ValueError, match="no area"):
        yolo_v1.yolo_loss([_two_by_two_level()], (10, 10, 10, 30), label=0)


def test_on_yolov3_tiny_a_found_object_costs_less_than_a_made_up_one(require_ready, astronaut):
    require_ready("yolov3-tiny")
    from cvdemo import registry

    detector = registry.load_model("yolov3-tiny", torch.device("cpu"))
    # YOLOv3-tiny misses a person who fills the frame: paste her on a grey canvas three times larger.
    height, width = astronaut.shape[:2]
    canvas = np.full((3 * height, 3 * width, 3), 128, dtype=np.uint8)
    canvas[height:2 * height, width:2 * width] = astronaut
    detections = detector.detect(canvas, score_threshold=0.3)
    assert len(detections), "YOLOv3-tiny finds the astronaut"
    levels = detections.insight.levels
    best = int(np.argmax(detections.scores))
    found = yolo_v1.yolo_loss(levels, detections.boxes[best], int(detections.labels[best]))
    # The network's own best box, as ground truth: its responsible anchor predicted it.
    assert found.iou > 0.5 and found.confidence > 0.3
    # The λnoobj sum over every other slot, checked against the detector's own decoded objectness.
    everything = sum(float((level.objectness.astype(np.float64) ** 2).sum()) for level in levels)
    no_object = next(t for t in found.terms if t.name == "no object")
    assert no_object.unweighted == pytest.approx(everything - found.confidence ** 2, rel=1e-5)
    nowhere = yolo_v1.yolo_loss(levels, (width * 0.1, height * 2.5, width * 0.5, height * 2.9), 0)  # grey corner
    own_terms = {"centre (x, y)", "size (√w, √h)", "objectness", "classes"}
    assert sum(t.value for t in found.terms if t.name in own_terms) < sum(t.value for t in nowhere.terms if t.name in own_terms)
