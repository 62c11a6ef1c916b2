"""The logic behind the YOLO view, without Streamlit: grids, cells, tensor slices, heatmaps, stages.

Everything here works from what :meth:`cvdemo.yolo.detector.YoloDetector.detect` returns — the
:class:`~cvdemo.results.HeadLevel` tuple in ``DetectionInsight.levels`` (raw head tensors, anchors and the
letterbox geometry) and the pre-NMS ``DetectionInsight.candidates`` — so the view never runs the network
a second time and shows exactly the numbers the detector used.

Coordinates: a cell ``(row, col)`` of a level with stride ``s`` covers network-input pixels
``[col·s, (col+1)·s) × [row·s, (row+1)·s)``; original pixels are ``(net - pad) / scale``. Drawing
functions take the picture to draw on (possibly a downscaled display copy) and the original
``image_size``, and scale coordinates between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from cvdemo.colormaps import colorize, plotly_scale
from cvdemo.images import fit_longest_side
from cvdemo.results import Detections, HeadLevel
from cvdemo.yolo.decode import decode_level, per_class_nms

BOX_FIELDS = ("tx", "ty", "tw", "th", "to (objectness logit)")
GRID_COLOURS = {32: (255, 200, 0), 16: (0, 200, 255), 8: (255, 80, 200)}
ANCHOR_COLOURS = ((255, 99, 71), (50, 205, 50), (65, 105, 225))


# --------------------------------------------------------------------------------------------
# Geometry of a level


def grid_size(level: HeadLevel) -> tuple[int, int]:
    """``(rows, cols)`` of the level's grid."""
    return tuple(level.class_scores.shape[-2:])  # type: ignore[return-value]


def num_anchors(level: HeadLevel) -> int:
    return 0 if level.anchors is None else int(level.anchors.shape[0])


def input_size(level: HeadLevel) -> int:
    """Side of the (square) network input the level was computed on."""
    return level.stride * grid_size(level)[1]


def _scale_xy(level: HeadLevel) -> tuple[float, float]:
    return level.scale_xy if level.scale_xy is not None else (level.scale, level.scale)


def cell_at(level: HeadLevel, x: float, y: float) -> tuple[int, int]:
    """The cell ``(row, col)`` whose area holds original pixel ``(x, y)`` (clamped to the grid)."""
    sx, sy = _scale_xy(level)
    rows, cols = grid_size(level)
    col = int(np.floor((x * sx + level.pad[0]) / level.stride))
    row = int(np.floor((y * sy + level.pad[1]) / level.stride))
    return min(max(row, 0), rows - 1), min(max(col, 0), cols - 1)


def network_to_image(level: HeadLevel, boxes: np.ndarray) -> np.ndarray:
    sx, sy = _scale_xy(level)
    px, py = level.pad
    boxes = np.asarray(boxes, dtype=np.float64)
    return (boxes - np.array([px, py, px, py])) / np.array([sx, sy, sx, sy])


def cell_box(level: HeadLevel, row: int, col: int) -> np.ndarray:
    """The cell's square in original pixels, ``x1, y1, x2, y2`` (may reach into the grey margin)."""
    s = level.stride
    return network_to_image(level, np.array([col * s, row * s, (col + 1) * s, (row + 1) * s]))


def anchor_priors(level: HeadLevel, row: int, col: int) -> np.ndarray:
    """The level's anchor boxes centred on the cell, ``(B, 4)`` in original pixels: the shapes the
    predictions start from before ``exp(tw)``, ``exp(th)`` stretch them."""
    s = level.stride
    cx, cy = (col + 0.5) * s, (row + 0.5) * s
    anchors = np.asarray(level.anchors, dtype=np.float64).reshape(-1, 2)
    boxes = np.stack([cx - anchors[:, 0] / 2, cy - anchors[:, 1] / 2, cx + anchors[:, 0] / 2, cy + anchors[:, 1] / 2], axis=1)
    return network_to_image(level, boxes)


def image_region(level: HeadLevel, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Where the picture lies in network-input pixels (the rest is letterbox margin)."""
    sx, sy = _scale_xy(level)
    height, width = image_size
    return level.pad[0], level.pad[1], level.pad[0] + width * sx, level.pad[1] + height * sy


# --------------------------------------------------------------------------------------------
# Decoding a level back from its raw tensor


@dataclass
class LevelPredictions:
    """Every anchor of every cell of one level, decoded; boxes in original pixels."""

    boxes: np.ndarray  # (B, h, w, 4)
    objectness: np.ndarray  # (B, h, w)
    class_probs: np.ndarray  # (B, C, h, w)

    @property
    def scores(self) -> np.ndarray:
        return self.objectness[:, None] * self.class_probs


def decode(level: HeadLevel) -> LevelPredictions:
    if level.raw is None or level.anchors is None:
        raise ValueError(f"level {level.name!r} carries no raw tensor or anchors; it does not come from a YOLO head")
    with torch.inference_mode():
        decoded = decode_level(torch.from_numpy(np.ascontiguousarray(level.raw, dtype=np.float32)),
                               torch.from_numpy(np.asarray(level.anchors, dtype=np.float32)), input_size(level))
    return LevelPredictions(network_to_image(level, decoded.boxes.numpy()).astype(np.float32),
                            decoded.objectness.numpy(), decoded.class_probs.numpy())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# --------------------------------------------------------------------------------------------
# One cell: the slice of the output tensor


def raw_slice(level: HeadLevel, row: int, col: int) -> np.ndarray:
    """The raw numbers the cell outputs, ``(B, 5 + C)``: per anchor ``tx, ty, tw, th, to, class logits``."""
    if level.raw is None:
        raise ValueError(f"level {level.name!r} carries no raw tensor")
    rows, cols = grid_size(level)
    if not (0 <= row < rows and 0 <= col < cols):
        raise IndexError(f"cell ({row}, {col}) is outside the {rows}×{cols} grid")
    b = num_anchors(level)
    return np.asarray(level.raw[:, row, col], dtype=np.float32).reshape(b, -1)


def slice_columns(categories: Sequence[str]) -> list[str]:
    return list(BOX_FIELDS) + [f"{name} logit" for name in categories]


def raw_slice_table(level: HeadLevel, row: int, col: int, categories: Sequence[str]) -> list[dict]:
    """The cell's slice as table rows, one per anchor, every one of the ``5 + C`` raw numbers."""
    values = raw_slice(level, row, col)
    columns = slice_columns(categories)
    if values.shape[1] != len(columns):
        raise ValueError(f"the slice has {values.shape[1]} numbers per anchor but {len(categories)} categories were given")
    rows = []
    for anchor, numbers in enumerate(values):
        record: dict[str, str | float] = {"anchor": _anchor_label(level, anchor)}
        record.update({name: round(float(v), 3) for name, v in zip(columns, numbers)})
        rows.append(record)
    return rows


def _anchor_label(level: HeadLevel, anchor: int) -> str:
    w, h = _anchors(level)[anchor]
    return f"#{anchor} {w:g}×{h:g}"


def _anchors(level: HeadLevel) -> np.ndarray:
    if level.anchors is None:
        raise ValueError(f"{level.name} has no anchors; only an anchor-based (YOLO) head has cell predictions")
    return level.anchors


@dataclass
class CellPrediction:
    """What one anchor of one cell says, step by step from its raw numbers."""

    anchor: int
    prior: tuple[float, float]  # anchor width, height in network pixels
    t: tuple[float, float, float, float, float]  # tx, ty, tw, th, to
    offset: tuple[float, float]  # σ(tx), σ(ty): centre within the cell, 0…1
    size: tuple[float, float]  # prior · exp(tw), prior · exp(th), network pixels
    objectness: float
    box: tuple[float, float, float, float]  # original pixels
    top_classes: list[tuple[str, float, float]]  # (name, σ(class logit), objectness × that)

    def as_record(self) -> dict:
        record = {
            "anchor": f"#{self.anchor}",
            "prior w×h": f"{self.prior[0]:g}×{self.prior[1]:g}",
            "σ(tx), σ(ty)": f"{self.offset[0]:.2f}, {self.offset[1]:.2f}",
            "box w×h = prior·exp(t)": f"{self.size[0]:.0f}×{self.size[1]:.0f}",
            "objectness σ(to)": f"{self.objectness:.4f}",
        }
        for rank, (name, prob, score) in enumerate(self.top_classes, start=1):
            record[f"class {rank}"] = f"{name} {prob:.2f} → {score:.3f}"
        return record


def cell_predictions(level: HeadLevel, row: int, col: int, categories: Sequence[str], top_k: int = 3) -> list[CellPrediction]:
    values = raw_slice(level, row, col).astype(np.float64)
    s = level.stride
    predictions = []
    for anchor, numbers in enumerate(values):
        tx, ty, tw, th, to = numbers[:5]
        prior_w, prior_h = (float(v) for v in _anchors(level)[anchor])
        ox, oy = float(_sigmoid(tx)), float(_sigmoid(ty))
        width, height = prior_w * float(np.exp(min(tw, 10.0))), prior_h * float(np.exp(min(th, 10.0)))
        cx, cy = (col + ox) * s, (row + oy) * s
        box = network_to_image(level, np.array([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2]))
        objectness = float(_sigmoid(to))
        probs = _sigmoid(numbers[5:])
        order = np.argsort(-probs, kind="stable")[:top_k]
        top = [(categories[i], float(probs[i]), objectness * float(probs[i])) for i in order]
        predictions.append(CellPrediction(anchor, (prior_w, prior_h), (tx, ty, tw, th, to), (ox, oy), (width, height),
                                          objectness, (float(box[0]), float(box[1]), float(box[2]), float(box[3])), top))
    return predictions


def best_cell(levels: Sequence[HeadLevel], label: int | None = None) -> tuple[int, int, int]:
    """``(level index, row, col)`` of the highest objectness × class score (for ``label``, or any
    class): the cell responsible for the most confident box, a sensible cell to show first."""
    best = (-1.0, 0, 0, 0)
    for index, level in enumerate(levels):
        scores = level.class_scores if label is None else level.class_scores[label][None]
        flat = int(np.argmax(scores))
        _, row, col = np.unravel_index(flat, scores.shape)
        value = float(scores.reshape(-1)[flat])
        if value > best[0]:
            best = (value, index, int(row), int(col))
    return best[1], best[2], best[3]


# --------------------------------------------------------------------------------------------
# Maps over the grid


def objectness_map(level: HeadLevel) -> np.ndarray:
    """``(h, w)``: the best objectness among the cell's anchors."""
    objectness = np.asarray(level.objectness)
    return objectness.max(axis=0) if objectness.ndim == 3 else objectness


def class_map(level: HeadLevel, label: int) -> np.ndarray:
    """``(h, w)``: the best objectness × P(class) among the cell's anchors."""
    return np.asarray(level.class_scores[label])


def top_labels(levels: Sequence[HeadLevel], k: int = 5) -> list[int]:
    """Classes with the highest cell score anywhere, best first (to pre-select the heatmap's class)."""
    peak = np.max(np.stack([lv.class_scores.reshape(lv.class_scores.shape[0], -1).max(axis=1) for lv in levels]), axis=0)
    return [int(i) for i in np.argsort(-peak, kind="stable")[:k]]


def colourise(values: np.ndarray, vmax: float = 1.0) -> np.ndarray:
    """One colour per value on the app's sequential scale (black = 0, bright yellow = ``vmax``)."""
    return colorize(values, signed=False, limit=max(vmax, 1e-12))


def heatmap_overlay(picture: np.ndarray, level: HeadLevel, values: np.ndarray, image_size: tuple[int, int],
                    alpha: float = 0.6, vmax: float = 1.0) -> np.ndarray:
    """``values`` (one per cell) painted over ``picture`` as blocks exactly the size of the cells.

    Cells are not interpolated: each cell makes one prediction, and blocky is the honest picture.
    """
    height, width = picture.shape[:2]
    orig_h, orig_w = image_size
    sx, sy = _scale_xy(level)
    rows, cols = values.shape
    # Centre of each display pixel → original pixel → network pixel → cell index.
    xs = (np.arange(width) + 0.5) * (orig_w / width)
    ys = (np.arange(height) + 0.5) * (orig_h / height)
    col_index = np.clip(((xs * sx + level.pad[0]) // level.stride).astype(np.int64), 0, cols - 1)
    row_index = np.clip(((ys * sy + level.pad[1]) // level.stride).astype(np.int64), 0, rows - 1)
    heat = colourise(values, vmax)[row_index[:, None], col_index[None, :]]
    blended = picture.astype(np.float32) * (1.0 - alpha) + heat.astype(np.float32) * alpha
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def region_in_cells(level: HeadLevel, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Where the picture lies on the grid, in cell units with cell centres at integers (Plotly's heatmap axes)."""
    x1, y1, x2, y2 = image_region(level, image_size)
    s = level.stride
    return x1 / s - 0.5, y1 / s - 0.5, x2 / s - 0.5, y2 / s - 0.5


def heatmap_figure(values: np.ndarray, title: str, selected: tuple[int, int] | None = None, zmax: float = 1.0,
                   hover_label: str = "score", region: tuple[float, float, float, float] | None = None):
    """A Plotly heatmap of one value per cell, row 0 at the top, with the selected cell outlined
    and, dashed, where the picture lies (``region``, from :func:`region_in_cells`)."""
    import plotly.graph_objects as go

    rows, cols = values.shape
    figure = go.Figure(go.Heatmap(
        z=values, x=list(range(cols)), y=list(range(rows)), zmin=0.0, zmax=zmax, colorscale=plotly_scale(False),
        hovertemplate=f"row %{{y}}, col %{{x}}<br>{hover_label} %{{z:.3f}}<extra></extra>",
        colorbar={"thickness": 12},
    ))
    if selected is not None:
        row, col = selected
        figure.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
                         line={"color": "#00e5ff", "width": 3})
    if region is not None:
        x0, y0, x1, y1 = region
        figure.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"color": "white", "width": 1, "dash": "dot"})
    # Fixed ranges: cell edges at ±0.5, row 0 at the top, no autorange padding around the grid.
    figure.update_yaxes(range=[rows - 0.5, -0.5], scaleanchor="x", constrain="domain", title="row", showgrid=False, zeroline=False)
    figure.update_xaxes(range=[-0.5, cols - 0.5], constrain="domain", title="col", showgrid=False, zeroline=False)
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 40}, height=380, clickmode="event+select")
    return figure


# --------------------------------------------------------------------------------------------
# From every prediction to the final boxes


@dataclass
class PipelineStages:
    """The same head outputs at three steps of post-processing."""

    all_boxes: Detections  # every anchor of every cell, labelled with its best class
    above_threshold: Detections  # (anchor, class) pairs with objectness × P(class) ≥ threshold
    after_nms: Detections  # what survives per-class NMS
    score_threshold: float
    nms_iou: float


def all_predictions(levels: Sequence[HeadLevel], categories: Sequence[str], image_size: tuple[int, int]) -> Detections:
    """All ``Σ B·h·w`` boxes (2 535 for YOLOv3-tiny at 416), each with its best class's score."""
    boxes, scores, labels = [], [], []
    for level in levels:
        predictions = decode(level)
        per_class = predictions.scores  # (B, C, h, w)
        best = per_class.argmax(axis=1)
        boxes.append(predictions.boxes.reshape(-1, 4))
        scores.append(np.take_along_axis(per_class, best[:, None], axis=1)[:, 0].reshape(-1))
        labels.append(best.reshape(-1))
    return Detections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels), categories, image_size)


def pipeline_stages(detections: Detections, score_threshold: float, nms_iou: float,
                    everything: Detections | None = None) -> PipelineStages:
    """Redo thresholding and NMS from ``detections.insight`` at new settings, without the network.

    ``score_threshold`` below the candidate floor the detector kept is raised to that floor.
    ``everything`` is :func:`all_predictions` when the caller already has it (it does not depend
    on the settings).
    """
    seen = detections.insight
    if seen is None or not seen.levels or seen.candidates is None:
        raise ValueError("these detections carry no YOLO levels/candidates; run a YOLO detector")
    levels, candidates = seen.levels, seen.candidates
    floor = seen.candidate_floor or 0.0
    threshold = max(float(score_threshold), floor)
    above = candidates.filter(threshold).sorted()
    keep = per_class_nms(torch.from_numpy(above.boxes), torch.from_numpy(above.scores), torch.from_numpy(above.labels), nms_iou)
    after = above.select(keep.numpy()).sorted()
    if everything is None:
        everything = all_predictions(levels, detections.categories, detections.image_size)
    return PipelineStages(everything, above, after, threshold, nms_iou)


# --------------------------------------------------------------------------------------------
# Drawing


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _factor(picture: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float]:
    return picture.shape[1] / image_size[1], picture.shape[0] / image_size[0]


def display_copy(image: np.ndarray, max_side: int = 900) -> np.ndarray:
    """A copy no larger than ``max_side`` to draw on: drawing a 12 MP photo is slow and pointless."""
    return np.ascontiguousarray(fit_longest_side(image, max_side))


def draw_grid(picture: np.ndarray, level: HeadLevel, image_size: tuple[int, int], cell: tuple[int, int] | None = None,
              show_anchors: bool = True, show_predictions: bool = True, categories: Sequence[str] = ()) -> np.ndarray:
    """The level's grid over the picture; optionally one cell highlighted with its anchor priors
    (dashed) and the boxes its anchors predict (solid, labelled with objectness)."""
    fx, fy = _factor(picture, image_size)
    canvas = Image.fromarray(picture).convert("RGBA")
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    colour = GRID_COLOURS.get(level.stride, (255, 255, 255))
    rows, cols = grid_size(level)
    for col in range(cols + 1):
        x = network_to_image(level, np.array([col * level.stride, 0, 0, 0]))[0] * fx
        draw.line([(x, 0), (x, canvas.height)], fill=colour + (150,), width=1)
    for row in range(rows + 1):
        y = network_to_image(level, np.array([0, row * level.stride, 0, 0]))[1] * fy
        draw.line([(0, y), (canvas.width, y)], fill=colour + (150,), width=1)
    font = _font(max(12, canvas.width // 45))
    if cell is not None:
        row, col = cell
        x1, y1, x2, y2 = cell_box(level, row, col) * np.array([fx, fy, fx, fy])
        draw.rectangle([x1, y1, x2, y2], fill=(0, 229, 255, 90), outline=(0, 229, 255, 255), width=3)
        if show_anchors:
            for anchor, prior in enumerate(anchor_priors(level, row, col)):
                _dashed_rectangle(draw, prior * np.array([fx, fy, fx, fy]), ANCHOR_COLOURS[anchor % 3] + (255,))
        if show_predictions and categories:
            # Labels go in a legend at the top left: on the boxes they would pile up on each other.
            lines = []
            for prediction in cell_predictions(level, row, col, categories, top_k=1):
                bx = np.array(prediction.box) * np.array([fx, fy, fx, fy])
                rgba = ANCHOR_COLOURS[prediction.anchor % 3] + (255,)
                draw.rectangle(list(bx), outline=rgba, width=max(1, round(1 + 3 * prediction.objectness)))
                name, _, score = prediction.top_classes[0]
                lines.append((f"#{prediction.anchor} obj {prediction.objectness:.2f} · {name} {score:.2f}", rgba))
            _legend(draw, lines, font)
    return np.asarray(Image.alpha_composite(canvas, overlay).convert("RGB"))


def _legend(draw: ImageDraw.ImageDraw, lines: list[tuple[str, tuple]], font) -> None:
    if not lines:
        return
    height = max(draw.textbbox((0, 0), text, font=font)[3] for text, _ in lines) + 4
    width = max(draw.textbbox((0, 0), text, font=font)[2] for text, _ in lines) + 12
    draw.rectangle([0, 0, width, height * len(lines) + 6], fill=(0, 0, 0, 170))
    for index, (text, colour) in enumerate(lines):
        draw.text((6, 3 + index * height), text, fill=colour, font=font)


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: np.ndarray, fill, dash: float = 8.0, width: int = 2) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = float(np.hypot(bx - ax, by - ay))
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)], fill=fill, width=width)


def _label_colour(label: int) -> tuple[int, int, int]:
    # Golden-ratio hues: neighbouring class indices get clearly different colours.
    hue = (label * 0.618033988749895) % 1.0
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_boxes(picture: np.ndarray, detections: Detections, *, fade_by_score: bool = False, max_boxes: int = 3000,
               labels: bool = True) -> np.ndarray:
    """Boxes over the picture, coloured by class; ``fade_by_score`` makes opacity follow the score,
    so thousands of raw predictions read as a haze with the confident ones standing out."""
    fx, fy = _factor(picture, detections.image_size)
    canvas = Image.fromarray(picture).convert("RGBA")
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = _font(max(11, canvas.width // 55))
    order = np.argsort(detections.scores, kind="stable")[-max_boxes:]  # strongest drawn last, on top
    for i in order:
        score = float(detections.scores[i])
        label = int(detections.labels[i])
        alpha = int(12 + 243 * min(1.0, score)) if fade_by_score else 255
        x1, y1, x2, y2 = detections.boxes[i] * np.array([fx, fy, fx, fy])
        colour = _label_colour(label) + (alpha,)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=1 if fade_by_score else 3)
        if labels and (not fade_by_score or score >= 0.25):
            draw.text((x1 + 3, y1 + 2), f"{detections.categories[label]} {score:.2f}", fill=colour, font=font,
                      stroke_width=2, stroke_fill=(0, 0, 0, alpha))
    return np.asarray(Image.alpha_composite(canvas, overlay).convert("RGB"))


# --------------------------------------------------------------------------------------------
# Why a box may be weak: its shape against the anchors


def shape_iou(size: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of one ``(w, h)`` with each anchor ``(B, 2)`` when both are centred on the same point:
    how YOLO assigns an object to the anchor responsible for it in training."""
    inter = np.minimum(size[0], anchors[:, 0]) * np.minimum(size[1], anchors[:, 1])
    return inter / (size[0] * size[1] + anchors[:, 0] * anchors[:, 1] - inter)


def anchor_fit(levels: Sequence[HeadLevel], candidates: Detections, per_class: int = 1, limit: int = 6) -> list[dict]:
    """For the best candidate of each of the top classes (found or not), its size in network pixels
    and how well the closest anchor of any grid fits it; objects far from every anchor's shape
    (bigger than the largest, smaller than the smallest) are the ones YOLOv3-tiny scores low."""
    if not levels or len(candidates) == 0:
        return []
    sx, sy = _scale_xy(levels[0])
    anchors = [(level, a) for level in levels for a in np.asarray(level.anchors, dtype=np.float64).reshape(-1, 2)]
    shapes = np.array([a for _, a in anchors])
    areas = shapes[:, 0] * shapes[:, 1]
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for index in np.argsort(-candidates.scores, kind="stable"):
        name = candidates.label_names[index]
        if seen.get(name, 0) >= per_class:
            continue
        seen[name] = seen.get(name, 0) + 1
        x1, y1, x2, y2 = candidates.boxes[index]
        size = np.array([(x2 - x1) * sx, (y2 - y1) * sy])
        fits = shape_iou(size, shapes)
        best = int(np.argmax(fits))
        level, anchor = anchors[best]
        area = size[0] * size[1]
        verdict = ("bigger than every anchor" if area > areas.max() * 1.5 else
                   "smaller than every anchor" if area < areas.min() / 1.5 else "within the anchors' range")
        rows.append({"class": name, "best score": round(float(candidates.scores[index]), 2),
                     "box in network px": f"{size[0]:.0f}×{size[1]:.0f}",
                     "closest anchor": f"{anchor[0]:.0f}×{anchor[1]:.0f} ({level.name})",
                     "shape IoU": round(float(fits[best]), 2), "size": verdict})
        if len(rows) >= limit:
            break
    return rows
