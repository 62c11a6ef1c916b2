"""Pictures for the face pages: boxes, landmarks, names, chip outlines and occlusion heatmaps."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cvdemo.faces.align import ChipDetails

MATCH = (40, 190, 80)
NO_MATCH = (230, 60, 50)
NEUTRAL = (255, 200, 0)
LANDMARK_COLOURS = [(0, 200, 255), (0, 120, 255), (255, 0, 200), (255, 140, 0), (255, 80, 0)]


@lru_cache(maxsize=8)
def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _scale(image: np.ndarray) -> float:
    return max(1.0, max(image.shape[:2]) / 640)


def label_box(draw: ImageDraw.ImageDraw, box, text: str, colour, line: int, font) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    draw.rectangle([x1, y1, x2, y2], outline=colour, width=line)
    if text:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        w, h = right - left, bottom - top
        width, height = draw.im.size
        ty = y1 - h - 2 * line if y1 - h - 2 * line >= 0 else y2 + line
        # a face at the edge keeps its whole label: slide the tag inside the picture
        tx = min(max(x1, 0.0), max(0.0, width - w - 2 * line))
        ty = min(max(ty, 0.0), max(0.0, height - h - 2 * line))
        draw.rectangle([tx, ty, tx + w + 2 * line, ty + h + 2 * line], fill=colour)
        draw.text((tx + line, ty + line - top), text, fill=(0, 0, 0) if sum(colour) > 400 else (255, 255, 255), font=font)


def annotate(image: np.ndarray, boxes, labels: list[str] | None = None, colours: list | None = None,
             landmarks=None, outlines: list[ChipDetails] | None = None) -> np.ndarray:
    """Copy of ``image`` with boxes, optional labels, 5-point landmarks and chip outlines."""
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    scale = _scale(image)
    line = max(2, int(round(2 * scale)))
    font = _font(max(12, int(14 * scale)))
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    for i, box in enumerate(boxes):
        colour = tuple(colours[i]) if colours else NEUTRAL
        if outlines is not None and i < len(outlines):
            corners = [tuple(p) for p in outlines[i].corners]
            draw.line(corners + [corners[0]], fill=(255, 255, 255), width=max(1, line // 2))
        label_box(draw, box, labels[i] if labels else "", colour, line, font)
        if landmarks is not None and i < len(landmarks):
            radius = max(2.0, 2.5 * scale)
            for k, (x, y) in enumerate(np.asarray(landmarks[i])):
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=LANDMARK_COLOURS[k % 5])
    return np.asarray(canvas)


def chip_with_points(chip: np.ndarray, points: np.ndarray, colour=(0, 255, 120)) -> np.ndarray:
    """Mark points (chip pixels) on a chip, e.g. where the alignment template puts the landmarks."""
    canvas = Image.fromarray(np.ascontiguousarray(chip))
    draw = ImageDraw.Draw(canvas)
    for x, y in np.asarray(points):
        draw.line([x - 4, y, x + 4, y], fill=colour, width=1)
        draw.line([x, y - 4, x, y + 4], fill=colour, width=1)
    return np.asarray(canvas)


def tile(chips: list[np.ndarray], captions: list[str] | None = None, size: int = 150, columns: int = 6) -> np.ndarray:
    """Chips side by side (rows of ``columns``), with optional captions under each."""
    if not chips:
        return np.zeros((size, size, 3), np.uint8)
    caption_h = 18 if captions else 0
    rows = (len(chips) + columns - 1) // columns
    cols = min(columns, len(chips))
    canvas = Image.new("RGB", (cols * size, rows * (size + caption_h)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _font(12)
    for i, chip in enumerate(chips):
        r, c = divmod(i, columns)
        canvas.paste(Image.fromarray(chip).resize((size, size)), (c * size, r * (size + caption_h)))
        if captions:
            text = captions[i]
            while len(text) > 1 and draw.textlength(text, font=font) > size - 6:
                text = text[:-2] + "…"
            draw.text((c * size + 3, r * (size + caption_h) + size + 2), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def closeup(image: np.ndarray, face, margin: float = 0.35) -> np.ndarray:
    """The face's neighbourhood with MTCNN's points (dots), dlib's points (crosses), dlib's
    box (white) and the chip outline (cyan), to compare the two landmark schemes."""
    alignment = face.alignment
    x1, y1, x2, y2 = face.box
    pad = margin * max(x2 - x1, y2 - y1)
    h, w = image.shape[:2]
    left, top = int(max(0, x1 - pad)), int(max(0, y1 - pad))
    right, bottom = int(min(w, x2 + pad)), int(min(h, y2 + pad))
    crop = Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
    zoom = 360 / max(crop.size)
    crop = crop.resize((max(1, int(crop.width * zoom)), max(1, int(crop.height * zoom))), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(crop)

    def to_crop(points):
        return (np.asarray(points, dtype=np.float64) - [left, top]) * zoom

    corners = [tuple(p) for p in to_crop(face.details.corners)]
    draw.line(corners + [corners[0]], fill=(0, 220, 255), width=2)
    if alignment is not None and alignment.dlib_box is not None:
        l, t, r, b = alignment.dlib_box
        (bl, bt), (br, bb) = to_crop([[l, t], [r, b]])
        draw.rectangle([bl, bt, br, bb], outline=(255, 255, 255), width=2)
    for k, (x, y) in enumerate(to_crop(face.landmarks)):
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LANDMARK_COLOURS[k % 5])
    if alignment is not None and alignment.dlib_landmarks is not None:
        for x, y in to_crop(alignment.dlib_landmarks):
            draw.line([x - 6, y - 6, x + 6, y + 6], fill=(255, 255, 255), width=2)
            draw.line([x - 6, y + 6, x + 6, y - 6], fill=(255, 255, 255), width=2)
    return np.asarray(crop)
