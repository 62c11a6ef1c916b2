"""Drawing segmentation results: class colours, alpha overlays, outlines, background effects.

Every function takes and returns RGB uint8 arrays and leaves its inputs untouched. They are used
per webcam frame, so they stay on whole-array NumPy/OpenCV operations (a few milliseconds at
640×480; see ``cvdemo/segmentation/benchmarks.py``).
"""

from __future__ import annotations

import colorsys
import io
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from cvdemo.results import InstanceMasks, SemanticMask

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
BACKGROUND_NAMES = ("background", "__background__")


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map: the bits of the class index spread over R, G and B, high bits first.

    Using it means a mask downloaded here looks like a VOC ground-truth file in any viewer.
    """
    index = np.arange(n)
    palette = np.zeros((n, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


def distinct_colours(n: int, offset: float = 0.0) -> np.ndarray:
    """``n`` saturated colours spread around the hue circle by the golden ratio (neighbours differ)."""
    colours = []
    for i in range(n):
        hue = (offset + i * 0.618033988749895) % 1.0
        value = 1.0 if i % 2 == 0 else 0.8
        colours.append([round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.75, value)])
    return np.asarray(colours, dtype=np.uint8).reshape(-1, 3)


def class_colours(categories: Sequence[str]) -> np.ndarray:
    """``(C, 3)`` uint8: VOC class names keep their VOC colour in every model, others get distinct hues."""
    voc = voc_palette(len(VOC_CLASSES))
    extra = iter(distinct_colours(len(categories), offset=0.11))
    colours = []
    for name in categories:
        key = name.lower().replace(" ", "")
        if key in BACKGROUND_NAMES:
            colours.append(np.zeros(3, dtype=np.uint8))
        elif key in VOC_CLASSES:
            colours.append(voc[VOC_CLASSES.index(key)])
        else:
            colours.append(next(extra))
    return np.asarray(colours, dtype=np.uint8).reshape(-1, 3)


def hex_colour(colour: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour[:3]))


def colorize(classes: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The raw mask as a picture: each pixel painted in its class colour."""
    classes = np.asarray(classes)
    colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    if len(colours) <= 256 and classes.ndim == 2:
        # OpenCV's table lookup is ~5× faster than NumPy fancy indexing on a video frame.
        table = np.zeros((256, 1, 3), dtype=np.uint8)
        table[: len(colours), 0] = colours
        index = classes if classes.dtype == np.uint8 else classes.astype(np.uint8)
        return cv2.LUT(cv2.merge([index, index, index]), table)
    return colours[classes]


def _class_lookup(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[classes]`` as uint8 (0/1 masks), through the same fast table lookup."""
    if len(values) <= 256:
        table = np.zeros(256, dtype=np.uint8)
        table[: len(values)] = values
        index = classes if classes.dtype == np.uint8 else classes.astype(np.uint8)
        return cv2.LUT(index, table)
    return values[classes].astype(np.uint8)


def visible_mask(categories: Sequence[str], hidden: Sequence[str] = BACKGROUND_NAMES) -> np.ndarray:
    return np.array([name not in hidden for name in categories], dtype=bool)


def boundaries(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels within ``width`` of a change of label, both sides: where max and min filters differ."""
    labels = np.asarray(labels)
    work = labels.astype(np.uint8) if labels.max(initial=0) < 256 else labels.astype(np.uint16)
    kernel = np.ones((2 * max(1, width // 2) + 1,) * 2, dtype=np.uint8) if width > 1 else np.ones((3, 3), np.uint8)
    return cv2.dilate(work, kernel) != cv2.erode(work, kernel)


def outline_width_for(shape: tuple[int, ...]) -> int:
    """An outline band that stays a few screen pixels wide when the picture is shrunk to fit a page
    column: 4 photo pixels up to about 1000 px on the long side, then growing with the picture."""
    return 2 * max(2, round(max(shape[:2]) / 400))


def overlay_classes(image: np.ndarray, classes: np.ndarray, colours: np.ndarray, *, opacity: float = 0.6,
                    visible: np.ndarray | None = None, outline_only: bool = False, outline_width: int | None = None) -> np.ndarray:
    """Blend class colours over ``image``; ``visible`` (C,) bool picks the classes shown.

    In outline-only mode the region borders are drawn opaque (a translucent one-pixel line would
    vanish) and the photo stays untouched inside, so small details remain visible.
    """
    if image.shape[:2] != classes.shape:
        raise ValueError(f"mask {classes.shape} and image {image.shape[:2]} differ in size")
    colours = np.asarray(colours, dtype=np.uint8)
    shown = np.ones(len(colours), dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    image = np.ascontiguousarray(image)
    painted = colorize(classes, colours)
    keep = _class_lookup(classes, shown.astype(np.uint8))
    if outline_only:
        keep &= boundaries(classes, outline_width or outline_width_for(classes.shape)).astype(np.uint8)
        return cv2.copyTo(painted, keep, image.copy())
    opacity = float(np.clip(opacity, 0.0, 1.0))
    # One uint8 blend of the whole frame, then copy it only where a shown class is: OpenCV's
    # SIMD blend and masked copy are far cheaper than float maths or NumPy boolean indexing.
    blended = cv2.addWeighted(image, 1.0 - opacity, painted, opacity, 0.0)
    return cv2.copyTo(blended, keep, image.copy())


def legend(mask: SemanticMask, colours: np.ndarray) -> list[dict]:
    """Classes present in the mask, largest share first: index, name, colour, pixel fraction."""
    fractions = mask.pixel_fractions()
    rows = [
        {"index": i, "class": name, "colour": hex_colour(colours[i]), "fraction": fractions[name]}
        for i, name in enumerate(mask.categories)
        if fractions[name] > 0
    ]
    return sorted(rows, key=lambda r: -r["fraction"])


# --- person masks: background effects ----------------------------------------------------------

def foreground_probability(mask: SemanticMask, foreground: Sequence[str] = ("person",)) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: soft where the model gives probabilities, hard otherwise."""
    wanted = [i for i, name in enumerate(mask.categories) if name in foreground]
    if not wanted:
        raise ValueError(f"the model has no {' or '.join(foreground)} class; its classes are {', '.join(mask.categories)}")
    if mask.probabilities is not None:
        return np.clip(mask.probabilities[wanted].sum(axis=0), 0.0, 1.0).astype(np.float32)
    return np.isin(mask.classes, wanted).astype(np.float32)


def _fast_blur(image: np.ndarray, strength: int) -> np.ndarray:
    """A strong blur for live video: blur a quarter-size copy and scale it back (≈10× cheaper)."""
    height, width = image.shape[:2]
    factor = 4
    small = cv2.resize(image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    kernel = max(1, int(strength) // factor) * 2 + 1
    small = cv2.GaussianBlur(small, (kernel, kernel), 0)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def fit_backdrop(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``picture`` stretched to ``size`` (height, width); a picture of that size is used as it is."""
    height, width = size
    if picture.shape[:2] == (height, width):
        return picture
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)


class LiveBackdrop:
    """A replacement picture for live video, resized once per frame size instead of every frame."""

    def __init__(self, picture: np.ndarray):
        self.picture = picture
        self._fitted = picture

    def fitted(self, size: tuple[int, int]) -> np.ndarray:
        fitted = self._fitted  # one read: frames may arrive from another thread
        if fitted.shape[:2] != tuple(size):
            fitted = self._fitted = fit_backdrop(self.picture, size)
        return fitted


def background_effect(image: np.ndarray, foreground: np.ndarray, mode: str = "blur", *, strength: int = 25,
                      replacement: np.ndarray | None = None, colour: Sequence[int] = (0, 177, 64),
                      feather: int = 3) -> np.ndarray:
    """Keep the person, change the rest: ``mode`` is "blur", "replace" (with ``replacement`` or
    ``colour``), "grey" or "none". ``foreground`` is the per-pixel person probability.

    The probability is used as the blending weight (after a small ``feather`` blur), so hair and
    edges fade instead of showing the hard stair-steps of a thresholded low-resolution mask.
    """
    if mode == "none":
        return image.copy()
    if foreground.shape != image.shape[:2]:
        raise ValueError(f"mask {foreground.shape} and image {image.shape[:2]} differ in size")
    height, width = image.shape[:2]
    if mode == "blur":
        background = _fast_blur(image, strength)
    elif mode == "replace":
        if replacement is not None:
            background = fit_backdrop(replacement, (height, width))
        else:
            background = np.empty_like(image)
            background[:] = np.asarray(colour, dtype=np.uint8)
    elif mode == "grey":
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        background = np.repeat(grey[..., None], 3, axis=2)
    else:
        raise ValueError(f"unknown background mode {mode!r}: use blur, replace, grey or none")
    alpha: np.ndarray = np.ascontiguousarray(foreground, dtype=np.float32)
    if feather > 0:
        alpha = cv2.GaussianBlur(alpha, (2 * feather + 1, 2 * feather + 1), 0)
    # blendLinear computes (a·image + (1-a)·background) per pixel in one pass over uint8 data.
    return cv2.blendLinear(np.ascontiguousarray(image), np.ascontiguousarray(background), alpha, 1.0 - alpha)


# --- instances ----------------------------------------------------------------------------------

def overlay_instances(image: np.ndarray, instances: InstanceMasks, *, visible: Sequence[bool] | np.ndarray | None = None,
                      opacity: float = 0.5, outline_only: bool = False, show_boxes: bool = True,
                      show_labels: bool = True) -> np.ndarray:
    """Each instance in its own colour (two people are two colours, unlike a semantic mask)."""
    canvas = np.ascontiguousarray(image.copy())
    colours = distinct_colours(max(len(instances), 1))
    shown = np.ones(len(instances), dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    height, width = image.shape[:2]
    areas = (instances.boxes[:, 2] - instances.boxes[:, 0]) * (instances.boxes[:, 3] - instances.boxes[:, 1])
    for index in np.argsort(-areas, kind="stable"):  # large instances first so small ones stay on top
        if not shown[index]:
            continue
        # Work inside the box (grown a little: pasted masks may spill over it) instead of the frame.
        x1, y1, x2, y2 = instances.boxes[index]
        grow_x, grow_y = 0.1 * (x2 - x1) + 2, 0.1 * (y2 - y1) + 2
        left, top = max(int(x1 - grow_x), 0), max(int(y1 - grow_y), 0)
        right, bottom = min(int(np.ceil(x2 + grow_x)), width), min(int(np.ceil(y2 + grow_y)), height)
        if right <= left or bottom <= top:
            continue
        region = canvas[top:bottom, left:right]
        mask = instances.masks[index, top:bottom, left:right]
        colour = colours[index]
        if outline_only:
            region[boundaries(mask.astype(np.uint8), outline_width_for(image.shape))] = colour
        else:
            tinted = cv2.addWeighted(region, 1.0 - opacity, np.broadcast_to(colour, region.shape).copy(), opacity, 0.0)
            region[mask] = tinted[mask]
    thickness = max(1, int(round(min(image.shape[:2]) / 320)))
    for index in range(len(instances)):
        if not shown[index]:
            continue
        colour = tuple(int(c) for c in colours[index])
        x1, y1, x2, y2 = (int(round(v)) for v in instances.boxes[index])
        if show_boxes:
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        if show_labels:
            text = f"{index + 1} {instances.categories[instances.labels[index]]} {instances.scores[index]:.2f}"
            scale = 0.4 * thickness + 0.1
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            top = max(y1 - th - base - 2, 0)
            cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
            cv2.putText(canvas, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def instance_id_map(instances: InstanceMasks, visible: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` uint8/uint16: 0 = no instance, ``i`` = instance ``i`` (1-based, as in the labels drawn)."""
    height, width = instances.image_size
    ids = np.zeros((height, width), dtype=np.uint8 if len(instances) < 255 else np.uint16)
    shown = np.ones(len(instances), dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    # Paint high scores last so an overlap goes to the more confident instance.
    for index in np.argsort(instances.scores, kind="stable"):
        if shown[index]:
            ids[instances.masks[index]] = index + 1
    return ids


# --- downloads ----------------------------------------------------------------------------------

def indexed_png(indices: np.ndarray, colours: np.ndarray | None = None) -> bytes:
    """A PNG whose pixel values are the class indices, with the colours as its palette (VOC format).

    Any viewer shows it in colour, and ``PIL.Image.open(...)`` gives back the indices unchanged.
    More than 256 indices do not fit a palette; those are written as 16-bit greyscale.
    """
    indices = np.asarray(indices)
    buffer = io.BytesIO()
    if indices.max(initial=0) > 255:
        Image.fromarray(indices.astype(np.uint16)).save(buffer, format="PNG")
        return buffer.getvalue()
    raw = np.ascontiguousarray(indices.astype(np.uint8))
    image = Image.frombytes("P", (raw.shape[1], raw.shape[0]), raw.tobytes())
    palette = voc_palette(256).copy()
    if colours is not None:
        colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)[:255]
        palette[: len(colours)] = colours
    palette[255] = (224, 224, 192)  # VOC's void colour for the ignore index
    image.putpalette(palette.reshape(-1).tolist())
    image.save(buffer, format="PNG")
    return buffer.getvalue()

