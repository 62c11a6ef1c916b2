"""Precision, recall, AP and mAP of detections against the user's own labels.

Two protocols, because the lectures teach both:

* **COCO** (what papers report since 2015): per class, detections of all images are ranked by
  score and greedily matched to the best still-unmatched ground-truth box; precision is made
  monotone and read at 101 recall points; AP@[.5:.95] averages over ten IoU thresholds. The
  matching and accumulation follow ``pycocotools.cocoeval`` step by step (crowd boxes, at most
  100 detections per image and class, stable ordering of ties), and the tests check agreement
  with ``COCOeval`` on the same data.
* **Pascal VOC** at IoU 0.5: each detection is matched to the ground-truth box it overlaps most;
  if that box is taken the detection is a false positive. AP is the area under the monotone
  precision envelope (VOC2010+ "all points"), or the mean of 11 samples (VOC2007).

Boxes marked *difficult* (VOC) or *crowd* (COCO) are neither required nor penalised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from cvdemo.detection.boxes import as_boxes, box_area, intersection_matrix, iou_matrix
from cvdemo.results import Detections

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)
COCO_MAX_DETECTIONS = 100


@dataclass
class ImageTruth:
    """Ground truth of one image: boxes in pixels (x1, y1, x2, y2) and class names."""

    boxes: np.ndarray
    labels: list[str]
    crowd: np.ndarray | None = None  # COCO iscrowd: one region covering many objects
    difficult: np.ndarray | None = None  # VOC difficult: hard to recognise, not counted
    size: tuple[int, int] | None = None  # (height, width) when the annotation file gives it

    def __post_init__(self) -> None:
        self.boxes = as_boxes(self.boxes)
        self.labels = [str(label) for label in self.labels]
        count = len(self.labels)
        if len(self.boxes) != count:
            raise ValueError(f"{len(self.boxes)} boxes but {count} labels")
        self.crowd = np.zeros(count, bool) if self.crowd is None else np.asarray(self.crowd, bool).reshape(-1)
        self.difficult = np.zeros(count, bool) if self.difficult is None else np.asarray(self.difficult, bool).reshape(-1)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class PRCurve:
    """One class's detections ranked by score, with cumulative precision and recall (COCO matching)."""

    scores: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    interpolated: np.ndarray  # precision made monotone (the envelope AP integrates)
    true_positive: np.ndarray  # bool per ranked detection


@dataclass
class ClassResult:
    name: str
    num_truth: int  # ground-truth boxes that count (not crowd/difficult)
    num_detections: int
    ap: float  # COCO AP@[.5:.95]
    ap50: float  # COCO AP at IoU 0.5 (101 points)
    ap75: float
    ap_voc: float  # VOC AP at 0.5, all points (VOC2010+)
    ap_voc07: float  # VOC AP at 0.5, 11 points (VOC2007)
    curve: PRCurve  # at IoU 0.5
    ap_per_iou: np.ndarray  # COCO AP at each of COCO_IOU_THRESHOLDS


@dataclass
class Evaluation:
    classes: list[ClassResult]
    iou_thresholds: np.ndarray
    num_images: int
    ignored_labels: dict[str, int] = field(default_factory=dict)  # detected classes absent from the ground truth

    def _mean(self, attribute: str) -> float:
        values = [getattr(c, attribute) for c in self.classes if c.num_truth > 0]
        return float(np.mean(values)) if values else float("nan")

    @property
    def map(self) -> float:
        """COCO mAP@[.5:.95]."""
        return self._mean("ap")

    @property
    def map50(self) -> float:
        """COCO-style mAP at IoU 0.5 (101-point interpolation)."""
        return self._mean("ap50")

    @property
    def map75(self) -> float:
        return self._mean("ap75")

    @property
    def map50_voc(self) -> float:
        return self._mean("ap_voc")

    @property
    def map50_voc07(self) -> float:
        return self._mean("ap_voc07")

    def table(self) -> list[dict]:
        return [
            {"class": c.name, "ground truth": c.num_truth, "detections": c.num_detections,
             "AP@[.5:.95]": c.ap, "AP@.5": c.ap50, "AP@.75": c.ap75, "VOC AP@.5": c.ap_voc}
            for c in self.classes
        ]


# ---------------------------------------------------------------------------------------------
# COCO protocol


def _coco_ious(det_boxes: np.ndarray, gt_boxes: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU, except that for crowd boxes the overlap is divided by the detection's own area."""
    ious = iou_matrix(det_boxes, gt_boxes)
    if crowd.any() and len(det_boxes):
        inter = intersection_matrix(det_boxes, gt_boxes[crowd])
        area = box_area(det_boxes)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ious[:, crowd] = np.where(area > 0, inter / np.where(area > 0, area, 1.0), 0.0)
    return ious


@dataclass
class _ImageClassMatch:
    scores: np.ndarray  # (D,) sorted, at most max_detections
    matched: np.ndarray  # (T, D) bool
    ignored: np.ndarray  # (T, D) bool: matched to a crowd/difficult box
    num_truth: int  # boxes that count
    det_order: np.ndarray  # (D,) index into the given detections of each sorted one
    matched_truth: np.ndarray  # (T, D) index into the given ground truth, -1 when unmatched


def _coco_match(det_boxes, det_scores, gt_boxes, gt_crowd, gt_ignore, thresholds, max_detections) -> _ImageClassMatch:
    gt_order = np.argsort(gt_ignore.astype(np.int8), kind="mergesort")  # boxes that count first
    gt_boxes, gt_crowd, gt_ignore = gt_boxes[gt_order], gt_crowd[gt_order], gt_ignore[gt_order]
    det_order = np.argsort(-det_scores, kind="mergesort")[:max_detections]
    det_boxes, det_scores = det_boxes[det_order], det_scores[det_order]
    num_t, num_d, num_g = len(thresholds), len(det_scores), len(gt_boxes)
    matched = np.zeros((num_t, num_d), bool)
    ignored = np.zeros((num_t, num_d), bool)
    matched_truth = np.full((num_t, num_d), -1, dtype=np.int64)
    if num_d and num_g:
        ious = _coco_ious(det_boxes, gt_boxes, gt_crowd)
        gt_taken = np.zeros((num_t, num_g), bool)
        for t, threshold in enumerate(thresholds):
            for d in range(num_d):
                best = min(threshold, 1 - 1e-10)
                match = -1
                for g in range(num_g):
                    if gt_taken[t, g] and not gt_crowd[g]:
                        continue
                    # once matched to a box that counts, never trade it for an ignored one
                    if match > -1 and not gt_ignore[match] and gt_ignore[g]:
                        break
                    if ious[d, g] < best:
                        continue
                    best, match = ious[d, g], g
                if match == -1:
                    continue
                ignored[t, d] = gt_ignore[match]
                matched[t, d] = True
                matched_truth[t, d] = gt_order[match]
                gt_taken[t, match] = True
    return _ImageClassMatch(det_scores, matched, ignored, int((~gt_ignore).sum()), det_order, matched_truth)


def _coco_precision_at_recalls(tp: np.ndarray, fp: np.ndarray, num_truth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp_sum = np.cumsum(tp).astype(np.float64)
    fp_sum = np.cumsum(fp).astype(np.float64)
    recall = tp_sum / num_truth
    precision = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    indices = np.searchsorted(recall, COCO_RECALL_POINTS, side="left")
    sampled = np.zeros(len(COCO_RECALL_POINTS))
    valid = indices < len(envelope)
    sampled[valid] = envelope[indices[valid]]
    return sampled, precision, recall, envelope


# ---------------------------------------------------------------------------------------------
# VOC protocol


def _voc_match(det_boxes, det_scores, gt_boxes, gt_difficult, iou_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per detection (sorted by score): score, true positive, false positive (difficult: neither)."""
    order = np.argsort(-det_scores, kind="mergesort")
    det_boxes, det_scores = det_boxes[order], det_scores[order]
    tp = np.zeros(len(det_scores), bool)
    fp = np.zeros(len(det_scores), bool)
    if len(gt_boxes) == 0:
        fp[:] = True
        return det_scores, tp, fp
    ious = iou_matrix(det_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for d in range(len(det_scores)):
        g = int(np.argmax(ious[d]))
        if ious[d, g] >= iou_threshold:
            if gt_difficult[g]:
                continue
            if not taken[g]:
                tp[d] = taken[g] = True
            else:
                fp[d] = True  # a duplicate of an already found object
        else:
            fp[d] = True
    return det_scores, tp, fp


def voc_ap(recall: np.ndarray, precision: np.ndarray, eleven_point: bool = False) -> float:
    if len(recall) == 0:
        return 0.0
    if eleven_point:
        return float(np.mean([precision[recall >= r].max() if (recall >= r).any() else 0.0 for r in np.linspace(0, 1, 11)]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


# ---------------------------------------------------------------------------------------------


def _class_arrays(detections: Detections | None, name: str) -> tuple[np.ndarray, np.ndarray]:
    if detections is None or len(detections) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    mask = np.array([label == name for label in detections.label_names], dtype=bool)
    return as_boxes(detections.boxes[mask]), detections.scores[mask].astype(np.float64)


def evaluate(truth: Mapping[str, ImageTruth], predictions: Mapping[str, Detections],
             iou_thresholds: Sequence[float] | np.ndarray = COCO_IOU_THRESHOLDS, max_detections: int = COCO_MAX_DETECTIONS,
             classes: Sequence[str] | None = None) -> Evaluation:
    """Score ``predictions`` against ``truth``, image by image (keys are image names).

    Only images with ground truth count (a missing prediction counts as "found nothing"), and only
    classes that occur in the ground truth (or ``classes``) are evaluated: the model cannot be
    judged on classes the labels do not mention.
    """
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    image_names = list(truth)
    if classes is None:
        classes = sorted({label for image in truth.values() for label in image.labels})
    ignored_labels: dict[str, int] = {}
    wanted = set(classes)
    for name in image_names:
        predicted = predictions.get(name)
        for label in (predicted.label_names if predicted is not None else []):
            if label not in wanted:
                ignored_labels[label] = ignored_labels.get(label, 0) + 1
    t50 = int(np.argmin(np.abs(thresholds - 0.5)))
    t75 = int(np.argmin(np.abs(thresholds - 0.75)))
    results = []
    for cls in classes:
        per_image: list[_ImageClassMatch] = []
        voc_scores, voc_tp, voc_fp = [], [], []
        num_detections = 0
        for name in image_names:
            image = truth[name]
            assert image.crowd is not None and image.difficult is not None  # ImageTruth.__post_init__ fills both
            mask = np.array([label == cls for label in image.labels], dtype=bool)
            gt_boxes = image.boxes[mask]
            gt_crowd = image.crowd[mask]
            gt_ignore = gt_crowd | image.difficult[mask]
            det_boxes, det_scores = _class_arrays(predictions.get(name), cls)
            num_detections += len(det_scores)
            if len(gt_boxes) == 0 and len(det_scores) == 0:
                continue
            per_image.append(_coco_match(det_boxes, det_scores, gt_boxes, gt_crowd, gt_ignore, thresholds, max_detections))
            # VOC has no crowd regions; its "difficult" boxes are matched with plain IoU
            voc_keep = ~gt_crowd
            s, tp, fp = _voc_match(det_boxes, det_scores, gt_boxes[voc_keep], image.difficult[mask][voc_keep], 0.5)
            voc_scores.append(s)
            voc_tp.append(tp)
            voc_fp.append(fp)
        num_truth = sum(m.num_truth for m in per_image)
        if per_image:
            scores = np.concatenate([m.scores for m in per_image])
            order = np.argsort(-scores, kind="mergesort")
            matched = np.concatenate([m.matched for m in per_image], axis=1)[:, order]
            ignored = np.concatenate([m.ignored for m in per_image], axis=1)[:, order]
            scores = scores[order]
        else:
            scores = np.zeros(0)
            matched = ignored = np.zeros((len(thresholds), 0), bool)
        ap_per_iou = np.zeros(len(thresholds))
        curve = PRCurve(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, bool))
        if num_truth > 0:
            for t in range(len(thresholds)):
                counted = ~ignored[t]
                tp = matched[t] & counted
                fp = ~matched[t] & counted
                sampled, precision, recall, envelope = _coco_precision_at_recalls(tp, fp, num_truth)
                ap_per_iou[t] = sampled.mean()
                if t == t50:
                    curve = PRCurve(scores[counted], precision[counted], recall[counted], envelope[counted], tp[counted])
            s = np.concatenate(voc_scores) if voc_scores else np.zeros(0)
            order = np.argsort(-s, kind="mergesort")
            tp = np.concatenate(voc_tp)[order] if voc_tp else np.zeros(0, bool)
            fp = np.concatenate(voc_fp)[order] if voc_fp else np.zeros(0, bool)
            counted = tp | fp
            tp_sum, fp_sum = np.cumsum(tp[counted]), np.cumsum(fp[counted])
            voc_recall = tp_sum / num_truth
            voc_precision = tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps)
            ap_voc, ap_voc07 = voc_ap(voc_recall, voc_precision), voc_ap(voc_recall, voc_precision, eleven_point=True)
        else:
            ap_per_iou[:] = np.nan
            ap_voc = ap_voc07 = float("nan")
        results.append(ClassResult(
            name=cls, num_truth=num_truth, num_detections=num_detections,
            ap=float(ap_per_iou.mean()), ap50=float(ap_per_iou[t50]), ap75=float(ap_per_iou[t75]),
            ap_voc=ap_voc, ap_voc07=ap_voc07, curve=curve, ap_per_iou=ap_per_iou,
        ))
    return Evaluation(results, thresholds, len(image_names), ignored_labels)



@dataclass
class ImageMatch:
    """One image at one IoU threshold, for drawing hits and misses."""

    detection_status: list[str]  # per detection: "tp", "fp" or "ignored" (matched a crowd/difficult box)
    truth_found: np.ndarray  # per ground-truth box: found by some detection
    matched_to: np.ndarray  # per detection: index of the ground-truth box it matched, or -1


def match_image(truth: ImageTruth, detections: Detections, iou_threshold: float = 0.5) -> ImageMatch:
    """The COCO matching of one image at one IoU threshold, every detection counted."""
    status = ["fp"] * len(detections)
    matched_to = np.full(len(detections), -1, dtype=np.int64)
    found = np.zeros(len(truth), dtype=bool)
    labels = detections.label_names
    assert truth.crowd is not None and truth.difficult is not None  # ImageTruth.__post_init__ fills both
    for cls in set(labels):
        det_idx = np.array([i for i, label in enumerate(labels) if label == cls], dtype=np.int64)
        gt_idx = np.array([i for i, label in enumerate(truth.labels) if label == cls], dtype=np.int64)
        if len(gt_idx) == 0:
            continue
        crowd = truth.crowd[gt_idx]
        ignore = crowd | truth.difficult[gt_idx]
        match = _coco_match(as_boxes(detections.boxes[det_idx]), detections.scores[det_idx].astype(np.float64),
                            truth.boxes[gt_idx], crowd, ignore, np.array([iou_threshold]), len(det_idx))
        for d, local in enumerate(match.det_order):
            if not match.matched[0, d]:
                continue
            det, gt = det_idx[local], gt_idx[match.matched_truth[0, d]]
            matched_to[det] = gt
            status[det] = "ignored" if match.ignored[0, d] else "tp"
            found[gt] = found[gt] or not match.ignored[0, d]
    return ImageMatch(status, found, matched_to)
