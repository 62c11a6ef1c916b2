"""IoU and NMS against torchvision.ops, the NMS explanation, and the drawing helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms, box_iou, nms

from cvdemo.detection.boxes import apply_nms, explain_nms, intersection_box, iou, iou_matrix, nms_indices
from cvdemo.detection.drawing import class_color, draw_detections, grid_lines, heatmap_overlay, level_pixel_map, text_color
from cvdemo.results import Detections, HeadLevel


def random_boxes(rng, count, size=300):
    xy = rng.uniform(0, size, (count, 2))
    wh = rng.uniform(5, 120, (count, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def test_iou_matrix_matches_torchvision():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 40), random_boxes(rng, 25)
    expected = box_iou(torch.as_tensor(a), torch.as_tensor(b)).numpy()
    np.testing.assert_allclose(iou_matrix(a, b), expected, atol=1e-9)


def test_iou_edge_cases():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == pytest.approx(1.0)
    assert iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0  # touching edges do not overlap
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0  # empty boxes: 0, not NaN
    assert iou_matrix(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    assert intersection_box([0, 0, 10, 10], [5, 2, 15, 8]).tolist() == [5, 2, 10, 8]
    assert intersection_box([0, 0, 10, 10], [20, 20, 30, 30]) is None


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_torchvision(threshold):
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 200)
    scores = rng.uniform(0, 1, 200)
    labels = rng.integers(0, 4, 200)
    tb, ts, tl = (torch.as_tensor(x) for x in (boxes, scores, labels))
    np.testing.assert_array_equal(nms_indices(boxes, scores, threshold), nms(tb.float(), ts.float(), threshold).numpy())
    np.testing.assert_array_equal(nms_indices(boxes, scores, threshold, labels), batched_nms(tb.float(), ts.float(), tl, threshold).numpy())


def test_nms_edge_cases():
    assert nms_indices(np.zeros((0, 4)), [], 0.5).tolist() == []
    # exact duplicates: only the best survives at any threshold below 1
    boxes = [[0, 0, 10, 10]] * 3
    assert nms_indices(boxes, [0.2, 0.9, 0.5], 0.5).tolist() == [1]
    assert sorted(nms_indices(boxes, [0.2, 0.9, 0.5], 1.0).tolist()) == [0, 1, 2]  # 1.0 keeps everything
    # class-aware NMS keeps overlapping boxes of different classes
    assert sorted(nms_indices(boxes, [0.2, 0.9, 0.5], 0.5, labels=[0, 0, 1]).tolist()) == [1, 2]


def test_explain_nms_names_the_suppressor():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [51, 50, 61, 60], [2, 0, 12, 10]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.3])
    result = explain_nms(boxes, scores, 0.5)
    assert sorted(result.kept.tolist()) == [0, 3]
    assert result.suppressed_by.tolist() == [-1, 0, 3, -1, 0]
    assert result.overlap[1] == pytest.approx(iou(boxes[1], boxes[0]))
    assert result.num_suppressed == 3
    rng = np.random.default_rng(2)  # on random data every removed box has a suppressor above the threshold
    boxes, scores, labels = random_boxes(rng, 150), rng.uniform(0, 1, 150), rng.integers(0, 3, 150)
    result = explain_nms(boxes, scores, 0.4, labels)
    removed = result.suppressed_by >= 0
    assert removed.sum() == 150 - len(result.kept)
    assert (result.overlap[removed] > 0.4).all()
    assert (labels[removed] == labels[result.suppressed_by[removed]]).all()
    assert (scores[result.suppressed_by[removed]] >= scores[removed]).all()


def test_apply_nms_caps_and_keeps_order():
    dets = Detections([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [0.5, 0.9, 0.7], [0, 0, 0], ["a"], (40, 40))
    kept = apply_nms(dets, 0.5)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7])
    assert len(apply_nms(dets, 0.5, max_detections=1)) == 1


def test_drawing_colours_and_pixels(astronaut):
    assert class_color("dog") == class_color("dog")
    assert len({class_color(n) for n in ("person", "dog", "cat", "car", "bicycle", "horse")}) >= 4
    assert text_color((255, 255, 0)) == (0, 0, 0) and text_color((0, 0, 128)) == (255, 255, 255)
    dets = Detections([[100, 100, 300, 400]], [0.87], [0], ["person"], astronaut.shape[:2])
    drawn = draw_detections(astronaut, dets)
    assert drawn.shape == astronaut.shape and drawn.dtype == np.uint8
    assert not np.shares_memory(drawn, astronaut)
    color = np.array(class_color("person"))
    assert (np.abs(drawn[250, 100].astype(int) - color) <= 40).all()  # the left edge has the class colour
    assert (drawn[250, 200] == astronaut[250, 200]).all()  # the inside is untouched
    empty = draw_detections(astronaut, Detections(np.zeros((0, 4)), [], [], ["person"], astronaut.shape[:2]))
    assert (empty == astronaut).all()


def test_level_maps_cover_letterboxed_image():
    # 640×480 letterboxed into 416×416: scale 0.65, pad_y 52; 13×13 grid of stride 32
    scores = np.zeros((2, 13, 13), np.float32)
    scores[1, 6, 6] = 1.0
    level = HeadLevel("stride 32", 32, scores, scale=0.65, pad=(0.0, 52.0))
    row, col = level_pixel_map(level, 480, 640)
    assert row.min() >= 0 and col.min() >= 0  # no image pixel falls in the padding
    assert row[0] == 1 and row[-1] == 11  # padding rows 0 and 12 hold no pixels
    xs, ys = grid_lines(level, 480, 640)
    assert xs[0] == pytest.approx(0) and xs[-1] == pytest.approx(640)
    image = np.full((480, 640, 3), 100, np.uint8)
    out = heatmap_overlay(image, level, scores[1], draw_grid=False)
    x0, y0 = 6 * 32 / 0.65 + 10, (6 * 32 - 52) / 0.65 + 10
    assert not (out[int(y0), int(x0)] == image[0, 0]).all()  # the hot cell is painted
    assert out.shape == image.shape
