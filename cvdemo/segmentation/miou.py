"""Scoring a predicted mask against a ground-truth mask: confusion matrix, per-class IoU, mIoU.

Conventions (the PASCAL VOC ones, also torchmetrics' ``MulticlassJaccardIndex``):

* ground-truth pixels equal to ``ignore_index`` (255, VOC's "void" object borders) count nowhere;
* ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``, accumulated over all pixels of the image(s);
* a class absent from both the ground truth and the prediction has no IoU (``NaN``: 0/0) and is
  left out of the mean — it would otherwise reward or punish the model for something that was
  not in the picture. A class present in only one of them has IoU 0 and is included.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from cvdemo.images import MAX_BYTES, MAX_PIXELS

IGNORE_INDEX = 255
# VOC's colour for "void" in colour-coded masks; mapped to the ignore index.
VOID_COLOUR = (224, 224, 192)
# Above this share of 255-pixels a 0/255 two-class mask is taken for black-and-white, not VOC void.
BLACK_AND_WHITE_SHARE = 0.25


class GroundTruthError(ValueError):
    """The ground-truth mask cannot be used; the message says why in words a user can act on."""


def confusion_matrix(prediction: np.ndarray, target: np.ndarray, num_classes: int,
                     ignore_index: int | None = IGNORE_INDEX) -> np.ndarray:
    """``(C, C)`` pixel counts; row = ground-truth class, column = predicted class."""
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {target.shape} differ in shape")
    target = target.reshape(-1).astype(np.int64)
    prediction = prediction.reshape(-1).astype(np.int64)
    keep = target != ignore_index if ignore_index is not None else np.ones_like(target, dtype=bool)
    target, prediction = target[keep], prediction[keep]
    for name, values in (("ground truth", target), ("prediction", prediction)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            bad = np.unique(values[(values < 0) | (values >= num_classes)])[:8].tolist()
            raise ValueError(f"{name} has class indices {bad} outside 0–{num_classes - 1}")
    counts = np.bincount(target * num_classes + prediction, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU of each class; ``NaN`` where the class is in neither ground truth nor prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positive / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean over classes that have an IoU; ``NaN`` if no pixel was labelled at all."""
    iou = iou_per_class(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(confusion: np.ndarray) -> float:
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


@dataclass
class SegmentationScore:
    categories: Sequence[str]
    confusion: np.ndarray  # (C, C), rows ground truth, columns prediction
    ignored_pixels: int

    @property
    def iou(self) -> np.ndarray:
        return iou_per_class(self.confusion)

    @property
    def miou(self) -> float:
        return mean_iou(self.confusion)

    @property
    def pixel_accuracy(self) -> float:
        return pixel_accuracy(self.confusion)

    @property
    def labelled_pixels(self) -> int:
        return int(self.confusion.sum())

    def records(self) -> list[dict]:
        """One row per class for the page's table; classes absent from both are marked, not scored."""
        iou = self.iou
        ground_truth = self.confusion.sum(axis=1)
        predicted = self.confusion.sum(axis=0)
        total = max(self.labelled_pixels, 1)
        rows = []
        for index, name in enumerate(self.categories):
            rows.append({
                "class": name,
                "IoU": None if np.isnan(iou[index]) else round(float(iou[index]), 4),
                "ground truth share": round(float(ground_truth[index]) / total, 4),
                "predicted share": round(float(predicted[index]) / total, 4),
                "true positives": int(self.confusion[index, index]),
                "false positives": int(predicted[index] - self.confusion[index, index]),
                "false negatives": int(ground_truth[index] - self.confusion[index, index]),
                "in mIoU": bool(not np.isnan(iou[index])),
            })
        return rows


def score(prediction: np.ndarray, target: np.ndarray, categories: Sequence[str],
          ignore_index: int | None = IGNORE_INDEX) -> SegmentationScore:
    target = np.asarray(target)
    ignored = int((target == ignore_index).sum()) if ignore_index is not None else 0
    return SegmentationScore(tuple(categories), confusion_matrix(prediction, target, len(categories), ignore_index), ignored)


# --- reading ground truth ----------------------------------------------------------------------

def parse_ground_truth(source: bytes | str | Path | np.ndarray | Image.Image, categories: Sequence[str],
                       image_size: tuple[int, int] | None = None, *, colours: np.ndarray | None = None,
                       ignore_index: int = IGNORE_INDEX, black_and_white: bool = False,
                       name: str = "the ground-truth mask") -> np.ndarray:
    """A ground-truth mask as an ``(H, W)`` int64 array of class indices (``ignore_index`` kept).

    Accepted: indexed ("P") PNGs as PASCAL VOC ships them and 8/16-bit grey PNGs, whose pixel
    values are class indices; and colour PNGs whose colours are exactly the class colours of
    ``colours`` (the legend's palette; VOC's void colour means ignore). ``image_size`` is
    ``(height, width)`` of the photo: masks must match it pixel for pixel. ``black_and_white``
    reads a two-class 0/255 mask as 0 = first class, 255 = second (instead of 255 = ignore).
    """
    num_classes = len(categories)
    if isinstance(source, np.ndarray):
        array = source
        indices = _array_indices(array, colours, name)
    else:
        image = _open(source, name)
        indices = _image_indices(image, colours, name)
    height, width = indices.shape
    if image_size is not None and (height, width) != tuple(image_size):
        raise GroundTruthError(
            f"{name} is {width}×{height} pixels but the photo is {image_size[1]}×{image_size[0]}; "
            "the mask must have exactly the photo's size (save it from the same image, uncropped and unscaled)"
        )
    values = set(int(v) for v in np.unique(indices))
    if black_and_white:
        if not values <= {0, 255}:
            raise GroundTruthError(f"{name} is not black-and-white: it has values other than 0 and 255")
        return np.where(indices == 255, 1, 0).astype(np.int64)
    unknown = sorted(v for v in values if not (0 <= v < num_classes) and v != ignore_index)
    if unknown:
        shown = ", ".join(str(v) for v in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise GroundTruthError(
            f"{name} uses class indices {shown}, which this model's {num_classes} classes do not have "
            f"(valid: 0–{num_classes - 1} = {_class_range(categories)}, and {ignore_index} = ignore)"
        )
    ignored_share = float((indices == ignore_index).mean())
    if num_classes == 2 and values == {0, ignore_index} and ignored_share > BLACK_AND_WHITE_SHARE:
        # VOC's 255 marks thin object borders; a quarter of the picture at 255 is almost surely a
        # black-and-white mask, and scoring it as "ignore" would silently drop the whole object.
        raise GroundTruthError(
            f"{name} looks like a black-and-white mask ({ignored_share:.0%} of pixels are 255, which means "
            f"ignore): tick 'black-and-white mask' to read white as {categories[1]}, or save it with "
            f"0 = {categories[0]} and 1 = {categories[1]}"
        )
    if ignored_share == 1.0:
        raise GroundTruthError(f"{name} has no labelled pixel: every pixel is {ignore_index} (ignore)")
    return indices.astype(np.int64)


def _class_range(categories: Sequence[str]) -> str:
    if len(categories) <= 4:
        return ", ".join(f"{i} {c}" for i, c in enumerate(categories))
    return f"0 {categories[0]}, 1 {categories[1]}, …, {len(categories) - 1} {categories[-1]}"


def _open(source, name: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise GroundTruthError(f"{name}: no such file")
        data = path.read_bytes()
    else:
        data = bytes(source)
    if not data:
        raise GroundTruthError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise GroundTruthError(f"{name} is {len(data) / 2**20:.1f} MiB; the limit is {MAX_BYTES / 2**20:.0f} MiB")
    try:
        image = Image.open(io.BytesIO(data))
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise GroundTruthError(f"{name} has {image.size[0] * image.size[1] / 1e6:.0f} MP; the limit is {MAX_PIXELS / 1e6:.0f} MP")
        image.load()
    except GroundTruthError:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, before ours could look at the size
        raise GroundTruthError(f"{name} declares too many pixels to decode safely; the limit is {MAX_PIXELS / 1e6:.0f} MP") from None
    except UnidentifiedImageError:
        raise GroundTruthError(f"{name} is not an image file; upload an indexed or greyscale PNG of class indices") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise GroundTruthError(f"{name} is damaged or truncated and cannot be decoded ({exc})") from None
    if image.format == "JPEG":
        # JPEG's lossy compression invents in-between values at every class border.
        raise GroundTruthError(f"{name} is a JPEG; lossy compression changes class indices at edges. Use a PNG")
    return image


def _image_indices(image: Image.Image, colours: np.ndarray | None, name: str) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        # VOC style: the stored values are the class indices, the palette is only for viewing.
        return np.asarray(image, dtype=np.int64)
    if mode in ("L", "I", "I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.int64)
    if mode == "1":
        return np.asarray(image, dtype=np.int64)
    if mode == "LA":
        return np.asarray(image.getchannel("L"), dtype=np.int64)
    if mode in ("RGB", "RGBA"):
        return _array_indices(np.asarray(image.convert("RGB")), colours, name)
    raise GroundTruthError(f"{name} has pixel mode {mode}; use an indexed (P), greyscale (L) or RGB PNG")


def _array_indices(array: np.ndarray, colours: np.ndarray | None, name: str) -> np.ndarray:
    if array.ndim == 2:
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.equal(np.mod(array, 1), 0)):
            raise GroundTruthError(f"{name} holds fractional values; class indices must be integers")
        return array.astype(np.int64)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3].astype(np.uint8)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
            return rgb[..., 0].astype(np.int64)  # a grey mask saved as RGB
        return _colours_to_indices(rgb, colours, name)
    raise GroundTruthError(f"{name} has shape {array.shape}; expected a single-channel mask")


def _colours_to_indices(rgb: np.ndarray, colours: np.ndarray | None, name: str) -> np.ndarray:
    if colours is None:
        raise GroundTruthError(f"{name} is a colour image; upload an indexed or greyscale PNG of class indices")
    colours = np.asarray(colours, dtype=np.int64).reshape(-1, 3)
    key = lambda c: (c[..., 0].astype(np.int64) << 16) | (c[..., 1].astype(np.int64) << 8) | c[..., 2].astype(np.int64)  # noqa: E731
    codes = key(rgb)
    lookup = {int(code): index for index, code in enumerate(key(colours))}
    lookup.setdefault(int(key(np.array(VOID_COLOUR))), IGNORE_INDEX)
    unique, inverse = np.unique(codes, return_inverse=True)
    mapped = np.array([lookup.get(int(code), -1) for code in unique], dtype=np.int64)
    if (mapped < 0).any():
        strangers = [f"#{int(code):06x}" for code in unique[mapped < 0][:6]]
        raise GroundTruthError(
            f"{name} contains colours {', '.join(strangers)} that are not class colours of this model's legend; "
            "upload an indexed or greyscale PNG of class indices instead"
        )
    return mapped[inverse].reshape(rgb.shape[:2])
