"""Box geometry and non-maximum suppression, in ``x1, y1, x2, y2`` pixel coordinates.

NMS runs through ``torchvision.ops`` (the same kernels the detectors use internally), so the
NMS slider on the page reproduces what a model would have kept at that IoU threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import batched_nms, nms

from cvdemo.results import Detections


def as_boxes(boxes) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def box_area(boxes) -> np.ndarray:
    boxes = as_boxes(boxes)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def intersection_matrix(a, b) -> np.ndarray:
    """(N, M) areas of overlap."""
    a, b = as_boxes(a), as_boxes(b)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)


def iou_matrix(a, b) -> np.ndarray:
    """(N, M) intersection over union; 0 where both boxes are empty (instead of 0/0)."""
    inter = intersection_matrix(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou(a, b) -> float:
    return float(iou_matrix(a, b)[0, 0])


def intersection_box(a, b) -> np.ndarray | None:
    """The overlap rectangle of two boxes, for drawing; None when they do not overlap."""
    a, b = as_boxes(a)[0], as_boxes(b)[0]
    box = np.array([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return box


def nms_indices(boxes, scores, iou_threshold: float, labels=None) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first.

    With ``labels`` suppression happens only within a class (what the COCO detectors do); without,
    across all classes. A box is removed when its IoU with a kept, higher-scoring box is *greater
    than* ``iou_threshold`` (torchvision's convention), so 1.0 keeps everything.
    """
    boxes_t = torch.as_tensor(as_boxes(boxes), dtype=torch.float32)
    scores_t = torch.as_tensor(np.asarray(scores, dtype=np.float32).reshape(-1))
    if len(scores_t) == 0:
        return np.zeros(0, dtype=np.int64)
    if labels is None:
        keep = nms(boxes_t, scores_t, float(iou_threshold))
    else:
        labels_t = torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1))
        keep = batched_nms(boxes_t, scores_t, labels_t, float(iou_threshold))
    return keep.numpy().astype(np.int64)


@dataclass
class NmsResult:
    """NMS with the reasons, for teaching: who suppressed whom, and at what overlap."""

    kept: np.ndarray  # indices into the candidates, highest score first
    suppressed_by: np.ndarray  # (N,) index of the kept box that removed each candidate; -1 if kept
    overlap: np.ndarray  # (N,) IoU with that box; 0 if kept

    @property
    def num_suppressed(self) -> int:
        return int((self.suppressed_by >= 0).sum())


def explain_nms(boxes, scores, iou_threshold: float, labels=None) -> NmsResult:
    """Run NMS, then name for every removed box the kept box that removed it.

    Greedy NMS visits boxes by falling score, so a removed box was removed by the highest-scoring
    kept box (of its class, when class-aware) that overlaps it by more than the threshold.
    """
    boxes = as_boxes(boxes)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    kept = nms_indices(boxes, scores, iou_threshold, labels)
    count = len(scores)
    suppressed_by = np.full(count, -1, dtype=np.int64)
    overlap = np.zeros(count, dtype=np.float64)
    if count == 0 or len(kept) == count:
        return NmsResult(kept, suppressed_by, overlap)
    removed = np.setdiff1d(np.arange(count), kept)
    ious = iou_matrix(boxes[removed], boxes[kept])  # kept is ordered by score
    eligible = ious > iou_threshold
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        eligible &= labels[removed][:, None] == labels[kept][None, :]
    eligible &= scores[kept][None, :] >= scores[removed][:, None]
    first = np.argmax(eligible, axis=1)
    found = eligible[np.arange(len(removed)), first]
    suppressed_by[removed[found]] = kept[first[found]]
    overlap[removed[found]] = ious[np.arange(len(removed)), first][found]
    return NmsResult(kept, suppressed_by, overlap)


def apply_nms(candidates: Detections, iou_threshold: float, class_aware: bool = True, max_detections: int | None = None) -> Detections:
    """Detections kept from ``candidates`` at ``iou_threshold`` (the page's NMS slider)."""
    keep = nms_indices(candidates.boxes, candidates.scores, iou_threshold, candidates.labels if class_aware else None)
    if max_detections is not None:
        keep = keep[:max_detections]
    return candidates.select(keep)


def clip_boxes(boxes, height: int, width: int) -> np.ndarray:
    boxes = as_boxes(boxes).copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def xyxy_to_xywh(boxes) -> np.ndarray:
    boxes = as_boxes(boxes).copy()
    boxes[:, 2:] -= boxes[:, :2]
    return boxes
