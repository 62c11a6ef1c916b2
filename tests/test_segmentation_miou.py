"""mIoU against torchmetrics and by hand; ground-truth parsing and its error messages."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.functional.classification import multiclass_jaccard_index

from cvdemo.segmentation.miou import (GroundTruthError, confusion_matrix, iou_per_class, mean_iou, parse_ground_truth,
                                      pixel_accuracy, score)
from cvdemo.segmentation.overlay import VOC_CLASSES, class_colours, indexed_png

PERSON = ("background", "person")


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.oracle
def test_per_class_iou_and_miou_match_torchmetrics_with_ignore_index():
    rng = np.random.default_rng(0)
    for _ in range(20):
        classes = int(rng.integers(2, 8))
        target = rng.integers(0, classes, size=(40, 50))
        prediction = np.where(rng.random((40, 50)) < 0.6, target, rng.integers(0, classes, size=(40, 50)))
        target[rng.random((40, 50)) < 0.1] = 255
        cm = confusion_matrix(prediction, target, classes)
        ours = iou_per_class(cm)
        theirs = multiclass_jaccard_index(torch.from_numpy(prediction), torch.from_numpy(target), num_classes=classes,
                                          average="none", ignore_index=255).numpy()
        present = ~np.isnan(ours)
        np.testing.assert_allclose(ours[present], theirs[present], rtol=1e-6)
        macro = multiclass_jaccard_index(torch.from_numpy(prediction), torch.from_numpy(target), num_classes=classes,
                                         average="macro", ignore_index=255).item()
        assert mean_iou(cm) == pytest.approx(macro, rel=1e-6)


def test_hand_computed_example():
    target = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [2, 2, 255, 255]])
    prediction = np.array([[0, 1, 1, 1],
                           [0, 0, 1, 0],
                           [2, 1, 2, 0]])
    cm = confusion_matrix(prediction, target, 4)
    # class 0: TP 3, FP 1 (a 1-pixel), FN 1 -> 3/5; class 1: TP 3, FP 2, FN 1 -> 3/6; class 2: TP 1, FN 1 -> 1/2
    np.testing.assert_allclose(iou_per_class(cm)[:3], [3 / 5, 3 / 6, 1 / 2])
    assert np.isnan(iou_per_class(cm)[3])  # class 3: absent from both
    assert mean_iou(cm) == pytest.approx((0.6 + 0.5 + 0.5) / 3)
    assert pixel_accuracy(cm) == pytest.approx(7 / 10)
    assert cm.sum() == 10  # the two 255 pixels count nowhere


def test_class_only_in_prediction_scores_zero_and_counts_in_the_mean():
    target = np.zeros((2, 2), dtype=np.int64)
    prediction = np.array([[0, 0], [0, 1]])
    cm = confusion_matrix(prediction, target, 3)
    iou = iou_per_class(cm)
    assert iou[1] == 0.0 and np.isnan(iou[2])
    assert mean_iou(cm) == pytest.approx((0.75 + 0.0) / 2)


def test_score_records_mark_absent_classes():
    result = score(np.array([[0, 1]]), np.array([[0, 1]]), ("background", "person", "cat"))
    rows = {r["class"]: r for r in result.records()}
    assert rows["person"]["IoU"] == 1.0 and rows["person"]["in mIoU"]
    assert rows["cat"]["IoU"] is None and not rows["cat"]["in mIoU"]
    assert result.miou == 1.0


def test_nothing_labelled_gives_nan_not_a_crash():
    cm = confusion_matrix(np.zeros((2, 2)), np.full((2, 2), 255), 2)
    assert cm.sum() == 0 and np.isnan(mean_iou(cm)) and np.isnan(pixel_accuracy(cm))


def test_prediction_indices_out_of_range_are_reported():
    with pytest.raises(ValueError, match="prediction has class indices"):
        confusion_matrix(np.array([[5]]), np.array([[0]]), 2)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 2)


# --- parsing -------------------------------------------------------------------------------------

def test_indexed_png_round_trips_with_void_border():
    truth = np.zeros((30, 40), dtype=np.uint8)
    truth[5:20, 5:25] = 15
    truth[4, 5:25] = 255
    parsed = parse_ground_truth(indexed_png(truth, class_colours(VOC_CLASSES)), VOC_CLASSES, (30, 40))
    np.testing.assert_array_equal(parsed, truth)


def test_greyscale_and_16_bit_masks_give_indices():
    truth = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    assert parse_ground_truth(png_bytes(Image.fromarray(truth)), PERSON, (2, 2)).tolist() == truth.tolist()
    wide = Image.fromarray(truth.astype(np.uint16))
    assert parse_ground_truth(png_bytes(wide), PERSON, (2, 2)).tolist() == truth.tolist()


def test_colour_mask_in_the_legend_colours_is_mapped_back():
    colours = class_colours(VOC_CLASSES)
    truth = np.array([[0, 15, 15], [12, 12, 0]])
    rgb = colours[truth]
    rgb[0, 0] = (224, 224, 192)  # VOC void colour
    parsed = parse_ground_truth(png_bytes(Image.fromarray(rgb)), VOC_CLASSES, (2, 3), colours=colours)
    assert parsed.tolist() == [[255, 15, 15], [12, 12, 0]]


def test_colour_mask_with_foreign_colours_is_refused():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (1, 2, 3)
    with pytest.raises(GroundTruthError, match="#010203"):
        parse_ground_truth(png_bytes(Image.fromarray(rgb)), VOC_CLASSES, (2, 2), colours=class_colours(VOC_CLASSES))


def test_size_mismatch_names_both_sizes():
    with pytest.raises(GroundTruthError, match=r"40×30 pixels but the photo is 64×48"):
        parse_ground_truth(png_bytes(Image.fromarray(np.zeros((30, 40), np.uint8))), PERSON, (48, 64))


def test_unknown_indices_are_listed_with_the_valid_range():
    truth = np.zeros((4, 4), dtype=np.uint8)
    truth[0, 0], truth[1, 1] = 7, 40
    with pytest.raises(GroundTruthError, match=r"class indices 7, 40.*valid: 0–1 = 0 background, 1 person.*255 = ignore"):
        parse_ground_truth(png_bytes(Image.fromarray(truth)), PERSON, (4, 4))


def test_black_and_white_mask_is_caught_and_can_be_read_on_request():
    truth = np.zeros((10, 10), dtype=np.uint8)
    truth[:, :5] = 255
    data = png_bytes(Image.fromarray(truth))
    with pytest.raises(GroundTruthError, match="black-and-white"):
        parse_ground_truth(data, PERSON, (10, 10))
    parsed = parse_ground_truth(data, PERSON, (10, 10), black_and_white=True)
    assert parsed[:, :5].min() == 1 and parsed[:, 5:].max() == 0


def test_all_ignore_mask_is_refused():
    with pytest.raises(GroundTruthError, match="no labelled pixel"):
        parse_ground_truth(png_bytes(Image.fromarray(np.full((3, 3), 255, np.uint8))), VOC_CLASSES, (3, 3))


def test_jpeg_and_non_images_and_empty_files_are_refused():
    jpeg = png_bytes(Image.fromarray(np.zeros((8, 8), np.uint8)), "JPEG")
    with pytest.raises(GroundTruthError, match="JPEG"):
        parse_ground_truth(jpeg, PERSON, (8, 8))
    with pytest.raises(GroundTruthError, match="not an image"):
        parse_ground_truth(b"this is text", PERSON)
    with pytest.raises(GroundTruthError, match="empty"):
        parse_ground_truth(b"", PERSON)
