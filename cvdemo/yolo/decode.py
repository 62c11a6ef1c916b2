"""From a photo to YOLO's input, and from YOLO's raw head tensors to boxes in the photo.

Each ``[yolo]`` head outputs, for every cell of its ``h×w`` grid and each of its ``B`` anchors,
``5 + C`` numbers: ``tx, ty, tw, th``, an objectness logit and ``C`` class logits. YOLOv3 decodes
them (in network-input pixels, cell ``(row, col)``, grid stride ``s``, anchor ``(pw, ph)``) as::

    bx = (col + σ(tx)) · s        bw = pw · exp(tw)
    by = (row + σ(ty)) · s        bh = ph · exp(th)
    score(class c) = σ(objectness) · σ(class_c)

The sigmoid keeps a box's centre inside the cell that predicts it; widths are scale factors of the
anchor priors (k-means clusters of COCO box shapes). Class probabilities are independent
sigmoids, not a softmax: YOLOv3 is trained with binary cross-entropy per class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cvdemo.geometry import Letterbox
from cvdemo.images import to_tensor

# Darknet fills the letterbox margins with 0.5 grey; the network has seen that during training.
LETTERBOX_FILL = 0.5


def letterbox(image: np.ndarray, input_size: int, device: torch.device) -> tuple[torch.Tensor, Letterbox]:
    """``H×W×3`` uint8 RGB → ``(1, 3, S, S)`` float32 in [0, 1] on ``device``, and its geometry.

    Resizing is bilinear with antialiasing: Darknet's own resize does not antialias, but a phone
    photo shrunk tenfold without it aliases into patterns the network never saw.
    """
    box = Letterbox.fit(image.shape[:2], input_size)
    # MPS lacks antialiased interpolation; a CPU resize of one image costs little there.
    work_device = torch.device("cpu") if device.type == "mps" else device
    tensor = to_tensor(image, work_device).unsqueeze(0)
    new_h, new_w = box.resized
    if (new_h, new_w) != tuple(image.shape[:2]):
        if work_device.type == "cpu":
            # uint8 antialiased resize has a fast CPU kernel; float would be ~3× slower.
            tensor = F.interpolate(tensor, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
            tensor = tensor.float().div_(255.0)
        else:
            tensor = F.interpolate(tensor.float().div_(255.0), size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    else:
        tensor = tensor.float().div_(255.0)
    canvas = torch.full((1, 3, input_size, input_size), LETTERBOX_FILL, dtype=torch.float32, device=work_device)
    px, py = box.pad
    canvas[:, :, py:py + new_h, px:px + new_w] = tensor.clamp_(0.0, 1.0)
    return canvas.to(device), box


@dataclass
class DecodedLevel:
    """One head's predictions, every anchor of every cell, before any threshold.

    ``boxes`` are ``x1, y1, x2, y2`` in network-input pixels, shape ``(B, h, w, 4)``;
    ``objectness`` is ``(B, h, w)``; ``class_probs`` is ``(B, C, h, w)`` (sigmoids, not a softmax).
    """

    boxes: torch.Tensor
    objectness: torch.Tensor
    class_probs: torch.Tensor
    stride: float

    @property
    def scores(self) -> torch.Tensor:
        """``(B, C, h, w)``: objectness × class probability, YOLOv3's per-class confidence."""
        return self.objectness.unsqueeze(1) * self.class_probs


def decode_level(raw: torch.Tensor, anchors: torch.Tensor, input_size: int | tuple[int, int]) -> DecodedLevel:
    """Decode one head's raw ``(B·(5+C), h, w)`` tensor (no batch dimension) with its ``(B, 2)`` anchors.

    ``input_size`` is the network input's side, or its ``(height, width)``.
    """
    anchors = torch.as_tensor(anchors, dtype=torch.float32, device=raw.device).reshape(-1, 2)
    num_anchors = anchors.shape[0]
    channels, height, width = raw.shape
    if channels % num_anchors:
        raise ValueError(f"{channels} channels cannot be split between {num_anchors} anchors")
    per_anchor = raw.float().reshape(num_anchors, channels // num_anchors, height, width)
    input_h, input_w = (input_size, input_size) if isinstance(input_size, int) else input_size
    stride_y, stride_x = input_h / height, input_w / width
    cols = torch.arange(width, device=raw.device, dtype=torch.float32).view(1, 1, width)
    rows = torch.arange(height, device=raw.device, dtype=torch.float32).view(1, height, 1)
    centre_x = (cols + torch.sigmoid(per_anchor[:, 0])) * stride_x
    centre_y = (rows + torch.sigmoid(per_anchor[:, 1])) * stride_y
    # exp of an untrained or adversarial logit can overflow; clamping at e^10 ≈ 22000 anchor
    # widths changes no real prediction.
    box_w = torch.exp(per_anchor[:, 2].clamp(max=10.0)) * anchors[:, 0].view(-1, 1, 1)
    box_h = torch.exp(per_anchor[:, 3].clamp(max=10.0)) * anchors[:, 1].view(-1, 1, 1)
    boxes = torch.stack((centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2), dim=-1)
    return DecodedLevel(boxes, torch.sigmoid(per_anchor[:, 4]), torch.sigmoid(per_anchor[:, 5:]), stride_x)


def clip_boxes(boxes: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    height, width = image_size
    return torch.stack((boxes[..., 0].clamp(0, width), boxes[..., 1].clamp(0, height),
                        boxes[..., 2].clamp(0, width), boxes[..., 3].clamp(0, height)), dim=-1)


def select_candidates(levels: list[DecodedLevel], box: Letterbox, floor: float, limit: int | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (anchor, class) pair scoring at least ``floor``, as boxes in original pixels.

    Like Darknet, one anchor may yield several classes (sigmoid classes are not exclusive); NMS
    then runs per class. Returns ``boxes (N, 4)``, ``scores (N,)``, ``labels (N,)``, best first,
    at most ``limit`` of them.
    """
    all_boxes, all_scores, all_labels = [], [], []
    for level in levels:
        scores = level.scores  # (B, C, h, w)
        anchor_idx, labels, rows, cols = torch.nonzero(scores >= floor, as_tuple=True)
        all_scores.append(scores[anchor_idx, labels, rows, cols])
        all_labels.append(labels)
        all_boxes.append(level.boxes[anchor_idx, rows, cols])
    boxes = torch.cat(all_boxes) if all_boxes else torch.zeros((0, 4))
    scores = torch.cat(all_scores) if all_scores else torch.zeros(0)
    labels = torch.cat(all_labels) if all_labels else torch.zeros(0, dtype=torch.long)
    order = torch.argsort(scores, descending=True, stable=True)
    if limit is not None:
        order = order[:limit]
    boxes = clip_boxes(box.to_image(boxes[order]), box.image_size)
    return boxes, scores[order], labels[order]


def per_class_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices kept by NMS run separately for each class (Darknet's ``do_nms_sort``), best first."""
    from torchvision.ops import batched_nms

    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    return batched_nms(boxes.float(), scores.float(), labels, iou_threshold)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``x1, y1, x2, y2`` boxes, ``(N, 4) × (M, 4) → (N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
