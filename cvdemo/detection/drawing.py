"""Boxes, labels and score maps drawn onto RGB images with OpenCV (a few ms per live frame)."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Iterable, Sequence

import cv2
import numpy as np

from cvdemo.colormaps import colorize
from cvdemo.results import Detections, HeadLevel

if TYPE_CHECKING:
    from cvdemo.detection.metrics import ImageMatch, ImageTruth

# Kelly's colours of maximum contrast (without white and black), so neighbouring classes differ
# and every colour still carries a readable label in black or white.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 179, 0), (128, 62, 117), (255, 104, 0), (166, 189, 215), (193, 0, 32), (206, 162, 98),
    (129, 112, 102), (0, 125, 52), (246, 118, 142), (0, 83, 138), (255, 122, 92), (83, 55, 122),
    (255, 142, 0), (179, 40, 81), (244, 200, 0), (127, 24, 13), (147, 170, 0), (89, 51, 21),
    (241, 58, 19), (35, 44, 22),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(name: str) -> tuple[int, int, int]:
    """One colour per class *name*, so "dog" looks the same whichever model found it."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


def text_color(background: Sequence[int]) -> tuple[int, int, int]:
    r, g, b = background[:3]
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def line_width(height: int, width: int) -> int:
    return max(1, int(round(min(height, width) / 320)))


def font_scale(height: int, width: int) -> float:
    return float(np.clip(min(height, width) / 900.0, 0.4, 1.6))


def draw_label(image: np.ndarray, text: str, x: float, y: float, color: Sequence[int], scale: float | None = None,
               inside: bool = False) -> None:
    """A filled tag with ``text`` whose bottom-left sits at (x, y); moved inside the frame when needed."""
    height, width = image.shape[:2]
    scale = scale or font_scale(height, width)
    thickness = max(1, int(round(scale * 1.5)))
    (tw, th), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, int(round(th * 0.25)))
    left = int(np.clip(x, 0, max(0, width - tw - 2 * pad)))
    bottom = int(y) if not inside else int(y) + th + 2 * pad
    if bottom - th - 2 * pad - baseline < 0:  # no room above the box: put the tag just inside it
        bottom = min(height, int(y) + th + 2 * pad + baseline)
    top = bottom - th - 2 * pad - baseline
    cv2.rectangle(image, (left, max(0, top)), (left + tw + 2 * pad, bottom), tuple(int(c) for c in color), -1)
    cv2.putText(image, text, (left + pad, bottom - pad - baseline), FONT, scale, text_color(color), thickness, cv2.LINE_AA)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, colors: Iterable[Sequence[int]], texts: Iterable[str | None] | None = None,
               thickness: int | None = None, copy: bool = True) -> np.ndarray:
    """Rectangles with optional tags; ``image`` is RGB uint8 and is left untouched unless copy=False."""
    out = np.ascontiguousarray(image.copy() if copy else image)
    height, width = out.shape[:2]
    thickness = thickness or line_width(height, width)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    texts = list(texts) if texts is not None else [None] * len(boxes)
    for box, color, text in zip(boxes, colors, texts):
        color = tuple(int(c) for c in color)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        if text:
            draw_label(out, text, x1, y1, color)
    return out


def detection_texts(detections: Detections, show_scores: bool = True) -> list[str]:
    if show_scores:
        return [f"{name} {score:.2f}" for name, score in zip(detections.label_names, detections.scores)]
    return list(detections.label_names)


def draw_detections(image: np.ndarray, detections: Detections, show_scores: bool = True, thickness: int | None = None,
                    copy: bool = True) -> np.ndarray:
    """Boxes coloured by class with "label score" tags, lowest score first so the best is on top."""
    order = np.argsort(detections.scores, kind="stable")
    ordered = detections.select(order)
    colors = [class_color(name) for name in ordered.label_names]
    return draw_boxes(image, ordered.boxes, colors, detection_texts(ordered, show_scores), thickness, copy)


def shade_box(image: np.ndarray, box: Sequence[float], color: Sequence[int], alpha: float = 0.45, copy: bool = True) -> np.ndarray:
    """Fill a rectangle translucently (used for the overlap of two boxes in the IoU view)."""
    out = image.copy() if copy else image
    height, width = out.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, x2 = np.clip([x1, x2], 0, width)
    y1, y2 = np.clip([y1, y2], 0, height)
    if x2 > x1 and y2 > y1:
        region = out[y1:y2, x1:x2].astype(np.float32)
        out[y1:y2, x1:x2] = (region * (1 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)
    return out


def level_pixel_map(level: HeadLevel, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For every original pixel column/row, the grid column/row of ``level`` that covers it (-1 outside)."""
    sx, sy = level.scale_xy if level.scale_xy is not None else (level.scale, level.scale)
    pad_x, pad_y = level.pad
    rows, cols = level.class_scores.shape[-2:]
    # pixel centres mapped into network-input pixels, then into cells
    col = np.floor(((np.arange(width) + 0.5) * sx + pad_x) / level.stride).astype(np.int64)
    row = np.floor(((np.arange(height) + 0.5) * sy + pad_y) / level.stride).astype(np.int64)
    col[(col < 0) | (col >= cols)] = -1
    row[(row < 0) | (row >= rows)] = -1
    return row, col


def grid_lines(level: HeadLevel, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Original-pixel x positions of the vertical cell borders and y positions of the horizontal ones."""
    sx, sy = level.scale_xy if level.scale_xy is not None else (level.scale, level.scale)
    pad_x, pad_y = level.pad
    rows, cols = level.class_scores.shape[-2:]
    xs = (np.arange(cols + 1) * level.stride - pad_x) / sx
    ys = (np.arange(rows + 1) * level.stride - pad_y) / sy
    return xs[(xs >= -0.5) & (xs <= width + 0.5)], ys[(ys >= -0.5) & (ys <= height + 0.5)]


def heatmap_overlay(image: np.ndarray, level: HeadLevel, scores: np.ndarray, alpha: float = 0.55, draw_grid: bool = True,
                    vmax: float | None = None) -> np.ndarray:
    """``scores`` (h, w) of one head level painted over the image cell by cell, with the grid drawn.

    Cells are drawn as flat blocks (not smoothed) because each one is a separate prediction.
    """
    height, width = image.shape[:2]
    row, col = level_pixel_map(level, height, width)
    top = float(vmax) if vmax else max(float(scores.max()), 1e-6)
    levels = np.clip(scores / top, 0, 1)
    colored = colorize(levels, signed=False, limit=1.0)  # the app's sequential scale: black = 0
    full = colored[np.clip(row, 0, None)[:, None], np.clip(col, 0, None)[None, :]]
    inside = (row >= 0)[:, None] & (col >= 0)[None, :]
    out = image.astype(np.float32)
    blend = out * (1 - alpha) + full.astype(np.float32) * alpha
    out = np.where(inside[..., None], blend, out).astype(np.uint8)
    if draw_grid:
        xs, ys = grid_lines(level, height, width)
        grid_color = (255, 255, 255)
        thickness = 1 if len(xs) > 40 else max(1, line_width(height, width) // 2)
        for x in xs:
            xi = int(round(np.clip(x, 0, width - 1)))
            cv2.line(out, (xi, 0), (xi, height - 1), grid_color, thickness)
        for y in ys:
            yi = int(round(np.clip(y, 0, height - 1)))
            cv2.line(out, (0, yi), (width - 1, yi), grid_color, thickness)
    return out


MATCH_COLORS = {"tp": (40, 200, 60), "fp": (230, 40, 40), "ignored": (150, 150, 150)}
MISSED_COLOR = (255, 255, 255)


def _dashed_rectangle(image: np.ndarray, box: Sequence[float], color: Sequence[int], dash: int = 6, thickness: int = 2) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    for start in range(x1, x2, 2 * dash):
        cv2.line(image, (start, y1), (min(start + dash, x2), y1), color, thickness)
        cv2.line(image, (start, y2), (min(start + dash, x2), y2), color, thickness)
    for start in range(y1, y2, 2 * dash):
        cv2.line(image, (x1, start), (x1, min(start + dash, y2)), color, thickness)
        cv2.line(image, (x2, start), (x2, min(start + dash, y2)), color, thickness)


def draw_match(image: np.ndarray, truth: "ImageTruth", detections: Detections, match: "ImageMatch") -> np.ndarray:
    """Hits green, false positives red, matches of crowd/difficult labels grey; labels that no
    detection found as dashed white rectangles."""
    out = image.copy()
    assert truth.crowd is not None and truth.difficult is not None  # ImageTruth.__post_init__ fills both
    for i in range(len(truth)):
        if not match.truth_found[i] and not (truth.crowd[i] or truth.difficult[i]):
            _dashed_rectangle(out, truth.boxes[i], MISSED_COLOR)
    texts = [f"{name} {score:.2f}" for name, score in zip(detections.label_names, detections.scores)]
    return draw_boxes(out, detections.boxes, [MATCH_COLORS[status] for status in match.detection_status], texts, copy=False)
