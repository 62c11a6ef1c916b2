"""YOLO v1's output layout and its sum-squared loss, evaluated on YOLOv3-tiny's live predictions.

The lectures teach YOLO v1 (Redmon et al., 2016): the input is resized to 448×448 and split into an
``S×S`` grid; every cell predicts ``B`` boxes ``(x, y, w, h, confidence)`` and one set of ``C``
class probabilities, an ``S×S×(5B + C)`` tensor (7×7×30 for B = 2 and Pascal VOC's 20 classes).
YOLOv2 and v3 changed the layout to ``B·(5 + C)`` per cell: every anchor carries its own classes.

No v1 weights ship with any package, so the loss is computed on the predictions of the model the
app does have: the ground-truth box is assigned, as YOLOv3 does, to the anchor (over all scales)
whose shape overlaps it best and to the cell holding its centre; then each term of the lectures'
loss is evaluated with v1's conventions (x, y relative to the cell; w, h relative to the input).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cvdemo.detection.boxes import iou
from cvdemo.results import HeadLevel
from cvdemo.yolo.insight import network_to_image

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
LAMBDA_COORD = 5.0  # Redmon et al.: box errors weigh 5×, so the many empty cells do not drown them
LAMBDA_NOOBJ = 0.5  # and the confidence of empty cells half


@dataclass(frozen=True)
class OutputLayout:
    """The shape of a YOLO head's output, and what it adds up to."""

    name: str
    input_side: int
    grids: tuple[int, ...]  # S per scale
    boxes_per_cell: int  # B
    classes: int  # C
    classes_per_box: bool  # v2/v3: every box its own C classes; v1: one set per cell

    @property
    def per_cell(self) -> int:
        b, c = self.boxes_per_cell, self.classes
        return b * (5 + c) if self.classes_per_box else 5 * b + c

    @property
    def formula(self) -> str:
        b, c = self.boxes_per_cell, self.classes
        return f"{b}·(5+{c}) = {self.per_cell}" if self.classes_per_box else f"5·{b}+{c} = {self.per_cell}"

    @property
    def numbers(self) -> int:
        return sum(s * s for s in self.grids) * self.per_cell

    @property
    def boxes(self) -> int:
        return sum(s * s for s in self.grids) * self.boxes_per_cell

    def as_record(self) -> dict:
        return {"model": self.name, "input": f"{self.input_side}×{self.input_side}",
                "grid(s) S×S": " + ".join(f"{s}×{s}" for s in self.grids), "B per cell": self.boxes_per_cell,
                "C": self.classes, "numbers per cell": self.formula,
                "classes": "one set per box" if self.classes_per_box else "one set per cell, shared by its B boxes",
                "output numbers": self.numbers, "boxes": self.boxes}


YOLO_V1 = OutputLayout("YOLO v1 (lectures)", 448, (7,), 2, 20, classes_per_box=False)


def yolov3_layout(input_side: int, grids: Sequence[int], classes: int = 80, name: str = "YOLOv3-tiny (this app)") -> OutputLayout:
    return OutputLayout(name, input_side, tuple(grids), 3, classes, classes_per_box=True)


def v1_channel_names(boxes: int = 2, classes: Sequence[str] = VOC_CLASSES) -> list[str]:
    """The ``5B + C`` numbers of one v1 cell, in order: each box's x, y, w, h, confidence, then P(class | object)."""
    names = [f"{part}{b + 1}" for b in range(boxes) for part in ("x", "y", "w", "h", "c")]
    return names + [f"P({name})" for name in classes]


def v1_cell(box: Sequence[float], image_size: tuple[int, int], cells: int = 7) -> tuple[int, int]:
    """``(row, col)`` of the v1 cell responsible for ``box`` (its centre's cell). v1 stretches the
    photo to 448×448, so the grid divides the photo itself into ``cells × cells`` equal parts."""
    height, width = image_size
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return (min(max(int(cy / height * cells), 0), cells - 1), min(max(int(cx / width * cells), 0), cells - 1))


def v1_target(box: Sequence[float], image_size: tuple[int, int], cells: int = 7) -> tuple[float, float, float, float]:
    """v1's regression target for ``box``: ``x, y`` of its centre relative to the responsible cell
    (0..1 inside it), ``w, h`` relative to the whole image."""
    height, width = image_size
    row, col = v1_cell(box, image_size, cells)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return (cx / width * cells - col, cy / height * cells - row, (box[2] - box[0]) / width, (box[3] - box[1]) / height)


# ---------------------------------------------------------------------------------------------
# The loss of one ground-truth box against a YOLOv3 head


@dataclass(frozen=True)
class LossTerm:
    name: str
    formula: str
    weight: float
    unweighted: float

    @property
    def value(self) -> float:
        return self.weight * self.unweighted


@dataclass(frozen=True)
class LossBreakdown:
    level: int  # index into the levels
    row: int
    col: int
    anchor: int  # index within the level
    anchor_shape: tuple[float, float]  # network pixels
    anchor_fit: float  # IoU of the anchor's shape with the box's, both centred
    target: tuple[float, float, float, float]  # x, y (in the cell), w, h (of the input)
    predicted: tuple[float, float, float, float]
    predicted_box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original pixels
    iou: float  # c_ij: IoU of the responsible prediction with the ground truth, the confidence target
    confidence: float  # ĉ_ij = σ(objectness logit)
    label: int
    class_probability: float  # p̂ of the true class
    empty_slots: int  # anchors × cells that hold no object: the λnoobj sum's length
    terms: tuple[LossTerm, ...]
    cross_entropy_terms: tuple[LossTerm, ...]  # the same slots under YOLOv3's own objectness and class losses

    @property
    def total(self) -> float:
        return sum(term.value for term in self.terms)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def shape_iou(width: float, height: float, anchors: np.ndarray) -> np.ndarray:
    """IoU of a ``width × height`` box with each anchor shape, all centred on one point."""
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    inter = np.minimum(width, anchors[:, 0]) * np.minimum(height, anchors[:, 1])
    return inter / (width * height + anchors[:, 0] * anchors[:, 1] - inter)


def _to_network(level: HeadLevel, box: Sequence[float]) -> np.ndarray:
    sx, sy = level.scale_xy if level.scale_xy is not None else (level.scale, level.scale)
    return np.asarray(box, dtype=np.float64) * [sx, sy, sx, sy] + [level.pad[0], level.pad[1], level.pad[0], level.pad[1]]


def yolo_loss(levels: Sequence[HeadLevel], box: Sequence[float], label: int, lambda_coord: float = LAMBDA_COORD,
              lambda_noobj: float = LAMBDA_NOOBJ) -> LossBreakdown:
    """The lectures' YOLO loss for one ground-truth ``box`` (``x1, y1, x2, y2`` original pixels) of
    class ``label`` against the raw head tensors in ``levels``.

    Raises ``ValueError`` for an empty box or levels without raw tensors and anchors.
    """
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError("the ground-truth box has no area: x2 must exceed x1 and y2 exceed y1")
    raws: list[np.ndarray] = []  # every level's raw tensor and anchors, known to be there
    anchor_sets: list[np.ndarray] = []
    for each in levels:
        if each.raw is None or each.anchors is None:
            raise ValueError("the loss needs a YOLO head's raw tensors and anchors")
        raws.append(each.raw)
        anchor_sets.append(each.anchors)
    if not levels:
        raise ValueError("the loss needs a YOLO head's raw tensors and anchors")
    net_box = _to_network(levels[0], box)
    width, height = net_box[2] - net_box[0], net_box[3] - net_box[1]
    cx, cy = (net_box[0] + net_box[2]) / 2, (net_box[1] + net_box[3]) / 2
    # YOLOv3's assignment: the best-fitting anchor shape over all scales decides the scale.
    fits = [shape_iou(width, height, anchors) for anchors in anchor_sets]
    level_index = int(np.argmax([fit.max() for fit in fits]))
    level = levels[level_index]
    anchor = int(np.argmax(fits[level_index]))
    raw, anchors = raws[level_index], anchor_sets[level_index]
    rows, cols = raw.shape[1:]
    stride = level.stride
    row, col = min(max(int(cy // stride), 0), rows - 1), min(max(int(cx // stride), 0), cols - 1)
    input_side = stride * cols
    per_anchor = raw.reshape(len(anchors), -1, rows, cols)
    tx, ty, tw, th, to = (float(v) for v in per_anchor[anchor, :5, row, col])
    anchor_w, anchor_h = (float(v) for v in anchors[anchor])

    target = (cx / stride - col, cy / stride - row, width / input_side, height / input_side)
    predicted = (float(_sigmoid(tx)), float(_sigmoid(ty)), anchor_w * float(np.exp(tw)) / input_side,
                 anchor_h * float(np.exp(th)) / input_side)
    pcx, pcy = (col + predicted[0]) * stride, (row + predicted[1]) * stride
    pw, ph = predicted[2] * input_side, predicted[3] * input_side
    predicted_net = np.array([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2])
    overlap = iou(predicted_net, net_box)
    confidence = float(_sigmoid(to))

    class_probs = _sigmoid(per_anchor[anchor, 5:, row, col])
    truth = np.zeros_like(class_probs)
    truth[label] = 1.0
    empty_sum, empty_log, empty_slots = 0.0, 0.0, 0
    for other_raw, other_anchors in zip(raws, anchor_sets):
        count = len(other_anchors)
        confidences = _sigmoid(other_raw.reshape(count, -1, *other_raw.shape[1:])[:, 4])
        empty_sum += float((confidences ** 2).sum())
        empty_log += float(-np.log1p(-np.clip(confidences, 0.0, 1.0 - 1e-12)).sum())
        empty_slots += confidences.size
    empty_sum -= confidence ** 2
    empty_log -= float(-np.log1p(-min(confidence, 1.0 - 1e-12)))
    empty_slots -= 1

    x, y, w, h = target
    xh, yh, wh, hh = predicted
    terms = (
        LossTerm("centre (x, y)", "λcoord·[(x − x̂)² + (y − ŷ)²]", lambda_coord, (x - xh) ** 2 + (y - yh) ** 2),
        LossTerm("size (√w, √h)", "λcoord·[(√w − √ŵ)² + (√h − √ĥ)²]", lambda_coord,
                 (np.sqrt(w) - np.sqrt(wh)) ** 2 + (np.sqrt(h) - np.sqrt(hh)) ** 2),
        LossTerm("objectness", "(c − ĉ)², c = IoU(prediction, truth)", 1.0, (overlap - confidence) ** 2),
        LossTerm("no object", f"λnoobj·Σ ĉ² over the {empty_slots:,} empty anchor slots", lambda_noobj, empty_sum),
        LossTerm("classes", "Σ_c (p_c − p̂_c)²", 1.0, float(((truth - class_probs) ** 2).sum())),
    )
    clipped = np.clip(class_probs, 1e-12, 1.0 - 1e-12)
    cross_entropy = (
        LossTerm("objectness", "−log ĉ", 1.0, float(-np.log(max(confidence, 1e-12)))),
        LossTerm("no object", f"Σ −log(1 − ĉ) over the {empty_slots:,} empty anchor slots", 1.0, empty_log),
        LossTerm("classes", "Σ_c −[p_c log p̂_c + (1 − p_c) log(1 − p̂_c)]", 1.0,
                 float(-(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped)).sum())),
    )
    ix1, iy1, ix2, iy2 = (float(v) for v in network_to_image(level, predicted_net))
    return LossBreakdown(level_index, row, col, anchor, (anchor_w, anchor_h), float(fits[level_index][anchor]),
                         target, predicted, (ix1, iy1, ix2, iy2), overlap, confidence,
                         label, float(class_probs[label]), empty_slots, terms, cross_entropy)


def voc_name(coco_name: str) -> str | None:
    """The Pascal VOC class a COCO class name corresponds to, or None (60 of COCO's 80 are not in VOC)."""
    from cvdemo.detection.groundtruth import VOC_TO_COCO

    coco_to_voc = {coco: voc for voc, coco in VOC_TO_COCO.items()}
    name = coco_to_voc.get(coco_name, coco_name)
    return name if name in VOC_CLASSES else None


def v1_target_cell(box: Sequence[float], image_size: tuple[int, int], coco_name: str, cells: int = 7) -> list[dict]:
    """What a v1 network is trained to output in the responsible cell, slot by slot (30 for B = 2)."""
    x, y, w, h = v1_target(box, image_size, cells)
    voc = voc_name(coco_name)
    rows = [{"slot": name, "target": value, "why": why} for name, value, why in (
        ("x1", x, "centre, relative to the cell"), ("y1", y, "centre, relative to the cell"),
        ("w1", w, "width / image width"), ("h1", h, "height / image height"),
        ("c1", None, "IoU of box 1's prediction with the truth, if box 1 fits best"))]
    rows += [{"slot": name, "target": None, "why": "the same, for whichever of the 2 boxes fits best"}
             for name in ("x2", "y2", "w2", "h2", "c2")]
    rows += [{"slot": f"P({name})", "target": float(name == voc),
              "why": "one class per cell, shared by both boxes" if name == voc else ""} for name in VOC_CLASSES]
    return rows


def draw_v1_grid(picture: np.ndarray, box: Sequence[float], image_size: tuple[int, int], cells: int = 7) -> np.ndarray:
    """The ``cells × cells`` grid over ``picture`` (a display copy of an ``image_size`` photo), the
    responsible cell shaded and the box drawn."""
    import cv2

    from cvdemo.detection.drawing import draw_boxes, line_width, shade_box

    height, width = picture.shape[:2]
    fx, fy = width / image_size[1], height / image_size[0]
    scaled = np.asarray(box, dtype=np.float64) * [fx, fy, fx, fy]
    row, col = v1_cell(box, image_size, cells)
    out = shade_box(picture, (col * width / cells, row * height / cells, (col + 1) * width / cells,
                              (row + 1) * height / cells), (0, 229, 255), alpha=0.45)
    for k in range(1, cells):
        cv2.line(out, (round(k * width / cells), 0), (round(k * width / cells), height), (255, 200, 0), 1)
        cv2.line(out, (0, round(k * height / cells)), (width, round(k * height / cells)), (255, 200, 0), 1)
    out = draw_boxes(out, scaled[None], [(255, 255, 255)], thickness=line_width(height, width) + 1, copy=False)
    centre = (round((scaled[0] + scaled[2]) / 2), round((scaled[1] + scaled[3]) / 2))
    cv2.circle(out, centre, max(3, line_width(height, width) * 3), (255, 255, 255), -1)
    return out
