"""AP / mAP against pycocotools' COCOeval on the same data, and the VOC protocol on hand-made cases."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cvdemo.detection.boxes import xyxy_to_xywh
from cvdemo.detection.metrics import ImageTruth, evaluate, voc_ap
from cvdemo.results import Detections

CLASSES = ["cat", "dog", "person", "car"]


def _random_box(rng, width=640, height=480):
    w, h = rng.uniform(20, 200), rng.uniform(20, 200)
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return [x, y, x + w, y + h]


def synthetic(seed: int, images: int = 12, crowd: bool = True):
    """Ground truth and detections with every hard case: jittered hits, duplicates, misses,
    false alarms, wrong classes, crowd boxes and an image with no ground truth for a class."""
    rng = np.random.default_rng(seed)
    truth, predictions = {}, {}
    for i in range(images):
        gt_boxes, gt_labels, gt_crowd = [], [], []
        for _ in range(rng.integers(0, 7)):
            gt_boxes.append(_random_box(rng))
            gt_labels.append(CLASSES[rng.integers(0, 3)])  # "car" never labelled: nothing to score
            gt_crowd.append(bool(crowd and rng.random() < 0.08))
        det_boxes, det_scores, det_labels = [], [], []
        for box, label in zip(gt_boxes, gt_labels):
            if rng.random() < 0.8:  # found, with a jittered box
                jitter = rng.normal(0, rng.choice([2, 8, 25]), 4)
                det_boxes.append(np.array(box) + jitter)
                det_scores.append(rng.uniform(0.2, 1.0))
                det_labels.append(label if rng.random() < 0.9 else CLASSES[rng.integers(0, 4)])
                if rng.random() < 0.3:  # a duplicate
                    det_boxes.append(np.array(box) + rng.normal(0, 5, 4))
                    det_scores.append(rng.uniform(0.05, 0.9))
                    det_labels.append(label)
        for _ in range(rng.integers(0, 4)):  # false alarms
            det_boxes.append(_random_box(rng))
            det_scores.append(rng.uniform(0.05, 0.8))
            det_labels.append(CLASSES[rng.integers(0, 4)])
        name = f"img{i}.jpg"
        truth[name] = ImageTruth(np.array(gt_boxes).reshape(-1, 4), gt_labels, crowd=np.array(gt_crowd, bool))
        det_boxes = np.array(det_boxes).reshape(-1, 4)
        det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 1)
        predictions[name] = Detections(det_boxes, det_scores, [CLASSES.index(l) for l in det_labels], CLASSES, (480, 640))
    return truth, predictions


def coco_reference(truth, predictions):
    """The same data through COCOeval; returns (stats, per-class AP@[.5:.95], per-class AP@.5)."""
    names = list(truth)
    gt = {"images": [{"id": i + 1, "file_name": n, "width": 640, "height": 480} for i, n in enumerate(names)],
          "categories": [{"id": c + 1, "name": name} for c, name in enumerate(CLASSES)], "annotations": []}
    results = []
    for i, name in enumerate(names):
        image = truth[name]
        for box, label, is_crowd in zip(xyxy_to_xywh(image.boxes), image.labels, image.crowd):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i + 1, "category_id": CLASSES.index(label) + 1,
                                      "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": int(is_crowd)})
        det = predictions[name]
        for box, score, label in zip(xyxy_to_xywh(det.boxes.astype(np.float64)), det.scores, det.labels):
            results.append({"image_id": i + 1, "category_id": int(label) + 1, "bbox": [float(v) for v in box], "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else COCO()
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # T, R, K (area all, 100 dets)
    per_class, per_class50 = {}, {}
    for k, name in enumerate(CLASSES):
        p = precision[:, :, k]
        if (p > -1).any():
            per_class[name] = float(p[p > -1].mean())
            per_class50[name] = float(p[0][p[0] > -1].mean())
    return evaluator.stats, per_class, per_class50


@pytest.mark.oracle
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_map_matches_cocoeval(seed):
    truth, predictions = synthetic(seed)
    # detections' boxes are float32 inside Detections; feed COCOeval exactly those values
    stats, per_class, per_class50 = coco_reference(truth, predictions)
    result = evaluate(truth, predictions)
    assert result.map == pytest.approx(stats[0], abs=1e-3)
    assert result.map50 == pytest.approx(stats[1], abs=1e-3)
    assert result.map75 == pytest.approx(stats[2], abs=1e-3)
    evaluated = {c.name: c for c in result.classes if c.num_truth > 0}
    assert set(evaluated) == set(per_class)
    for name, ap in per_class.items():
        assert evaluated[name].ap == pytest.approx(ap, abs=1e-3)
        assert evaluated[name].ap50 == pytest.approx(per_class50[name], abs=1e-3)


@pytest.mark.oracle
def test_many_detections_per_image_are_capped_like_cocoeval():
    # 150 boxes in one image and class: COCO counts only the 100 best-scoring ones
    rng = np.random.default_rng(7)
    gt_boxes = np.array([_random_box(rng, 2000, 2000) for _ in range(150)])
    det_boxes = gt_boxes + rng.normal(0, 3, gt_boxes.shape)
    scores = rng.uniform(0, 1, 150)
    truth = {"a.png": ImageTruth(gt_boxes, ["cat"] * 150)}
    predictions = {"a.png": Detections(det_boxes, scores, np.zeros(150, int), CLASSES, (2000, 2000))}
    stats, _, _ = coco_reference(truth, predictions)
    result = evaluate(truth, predictions)
    assert result.map == pytest.approx(stats[0], abs=1e-3)
    assert result.classes[0].ap50 < 0.7  # at most 100 of 150 objects can be found


def test_perfect_detections_score_one():
    truth = {"a.png": ImageTruth([[10, 10, 50, 60], [100, 100, 180, 150]], ["cat", "dog"])}
    predictions = {"a.png": Detections([[10, 10, 50, 60], [100, 100, 180, 150]], [0.9, 0.8], [0, 1], CLASSES, (200, 200))}
    result = evaluate(truth, predictions)
    assert result.map == pytest.approx(1.0)
    assert result.map50_voc == pytest.approx(1.0)
    assert result.map50_voc07 == pytest.approx(1.0)


def test_no_detections_score_zero_and_no_truth_is_nan():
    truth = {"a.png": ImageTruth([[10, 10, 50, 60]], ["cat"])}
    empty = Detections(np.zeros((0, 4)), [], [], CLASSES, (100, 100))
    result = evaluate(truth, {"a.png": empty})
    assert result.map == 0.0 and result.map50_voc == 0.0
    # and an image missing from the predictions counts as "found nothing"
    assert evaluate(truth, {}).map == 0.0
    nothing = evaluate({"a.png": ImageTruth(np.zeros((0, 4)), [])}, {"a.png": empty})
    assert np.isnan(nothing.map) and nothing.classes == []


def test_duplicate_is_a_false_positive():
    truth = {"a.png": ImageTruth([[10, 10, 50, 50]], ["cat"])}
    # the duplicate ranks first: precision 0 at recall 0, then 1/2 at recall 1
    dup = Detections([[10, 10, 50, 50], [11, 10, 50, 50]], [0.5, 0.9], [0, 0], CLASSES, (100, 100))
    result = evaluate(truth, {"a.png": dup}).classes[0]
    assert result.ap50 == pytest.approx(1.0)  # the true match (2nd) still has IoU > .5: the first one is the hit
    far_dup = Detections([[10, 10, 50, 50], [10, 10, 50, 50]], [0.9, 0.8], [0, 0], CLASSES, (100, 100))
    result = evaluate(truth, {"a.png": far_dup}).classes[0]
    assert result.curve.true_positive.tolist() == [True, False]
    assert result.curve.precision.tolist() == pytest.approx([1.0, 0.5])
    assert result.ap50 == pytest.approx(1.0)  # the envelope: recall 1 was reached at precision 1


def test_voc_matching_differs_from_coco_on_taken_boxes():
    # Two objects side by side; the second detection overlaps the first object most, which is
    # already taken: VOC calls it a false positive, COCO matches it to the second object.
    truth = {"a.png": ImageTruth([[0, 0, 100, 100], [40, 0, 140, 100]], ["cat", "cat"])}
    dets = Detections([[0, 0, 100, 100], [15, 0, 115, 100]], [0.9, 0.8], [0, 0], CLASSES, (100, 200))
    result = evaluate(truth, {"a.png": dets}).classes[0]
    assert result.ap50 == pytest.approx(1.0)
    assert result.ap_voc == pytest.approx(0.5)


def test_difficult_boxes_neither_count_nor_penalise():
    truth = {"a.png": ImageTruth([[0, 0, 50, 50], [100, 100, 150, 150]], ["cat", "cat"], difficult=[False, True])}
    found_both = Detections([[0, 0, 50, 50], [100, 100, 150, 150]], [0.9, 0.95], [0, 0], CLASSES, (200, 200))
    result = evaluate(truth, {"a.png": found_both}).classes[0]
    assert result.num_truth == 1
    assert result.ap50 == pytest.approx(1.0) and result.ap_voc == pytest.approx(1.0)


def test_voc_ap_formulas():
    recall = np.array([0.5, 0.5, 1.0])
    precision = np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(recall, precision) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # 11 points: r=0..0.5 (6 points) at 1.0, r=0.6..1.0 (5 points) at 2/3
    assert voc_ap(recall, precision, eleven_point=True) == pytest.approx((6 * 1.0 + 5 * 2 / 3) / 11)
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def test_classes_without_truth_are_reported_not_scored():
    truth = {"a.png": ImageTruth([[0, 0, 50, 50]], ["cat"])}
    dets = Detections([[0, 0, 50, 50], [60, 60, 90, 90]], [0.9, 0.9], [0, 3], CLASSES, (100, 100))
    result = evaluate(truth, {"a.png": dets})
    assert [c.name for c in result.classes] == ["cat"]
    assert result.ignored_labels == {"car": 1}


def test_match_image_marks_hits_misses_and_duplicates():
    from cvdemo.detection.metrics import match_image

    truth = ImageTruth([[0, 0, 50, 50], [100, 100, 150, 150], [200, 0, 260, 60]], ["cat", "cat", "dog"],
                       difficult=[False, False, True])
    dets = Detections([[1, 1, 50, 50], [0, 0, 49, 51], [300, 300, 320, 320], [200, 0, 258, 60], [100, 100, 150, 150]],
                      [0.9, 0.8, 0.7, 0.6, 0.5], [0, 0, 0, 1, 1], CLASSES, (400, 400))
    result = match_image(truth, dets, 0.5)
    # best cat box hits, its duplicate and the far box are false, the dog on a difficult box is
    # ignored, and a box of the wrong class (dog on a cat) is false
    assert result.detection_status == ["tp", "fp", "fp", "ignored", "fp"]
    assert result.matched_to.tolist() == [0, -1, -1, 2, -1]
    assert result.truth_found.tolist() == [True, False, False]


def test_hits_misses_and_false_positives_are_drawn_in_their_colours():
    from cvdemo.detection.drawing import MATCH_COLORS, MISSED_COLOR, draw_match
    from cvdemo.detection.metrics import ImageTruth, match_image

    image = np.zeros((200, 300, 3), np.uint8)
    truth = ImageTruth([[20, 20, 80, 80], [150, 40, 250, 160]], ["person", "dog"])
    detections = Detections([[22, 21, 81, 79], [100, 150, 140, 190]], [0.9, 0.7], [0, 0], ["person", "dog"], (200, 300))
    match = match_image(truth, detections, 0.5)
    assert match.detection_status == ["tp", "fp"] and list(match.truth_found) == [True, False]
    drawn = draw_match(image, truth, detections, match)
    assert (image == 0).all()  # the photo itself is not drawn on

    def hue_at(row: int, columns: slice) -> np.ndarray:  # lines are anti-aliased: compare the strongest pixel's hue
        strip = drawn[row, columns].astype(float)
        peak = strip[strip.sum(axis=1).argmax()]
        return peak / peak.max()

    def hue(color) -> np.ndarray:
        return np.array(color, float) / max(color)

    np.testing.assert_allclose(hue_at(50, slice(17, 28)), hue(MATCH_COLORS["tp"]), atol=0.05)  # the hit's left edge
    np.testing.assert_allclose(hue_at(170, slice(95, 106)), hue(MATCH_COLORS["fp"]), atol=0.05)  # the false positive's
    left_edge_of_the_missed_dog = drawn[40:160, 150]
    dashes = (left_edge_of_the_missed_dog == MISSED_COLOR).all(axis=1)
    assert 0.3 < dashes.mean() < 0.8  # dashed, not solid
