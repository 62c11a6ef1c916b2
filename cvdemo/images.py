"""One loader for every upload, file and video frame: anything in, RGB uint8 out.

Pages show ``ImageLoadError``'s message as is, so each message says what was wrong in words a
user can act on.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from cvdemo.settings import env_int

MAX_BYTES = env_int("CVDEMO_MAX_IMAGE_BYTES", 50 * 1024 * 1024)
MAX_PIXELS = env_int("CVDEMO_MAX_IMAGE_PIXELS", 50_000_000)
# Wider than this (either way) cannot be drawn: shown 1460 px wide, a 20000×1 strip is 0 px high.
MAX_ASPECT = 50
# Below this a picture holds too little for any network here to see (their inputs are 64–640 px).
MIN_USEFUL_SIDE = 32
# Transparent pixels are composited over mid-grey: close to the ImageNet mean, so it neither adds
# strong edges for the networks nor reveals whatever colour an editor left under the alpha.
TRANSPARENT_BACKGROUND = (128, 128, 128)

ImageSource = Union[bytes, bytearray, memoryview, str, Path, np.ndarray, Image.Image]


class ImageLoadError(ValueError):
    """The input is not an image we can use; the message is meant for the user."""


def load_image(source: ImageSource, *, channel_order: str = "rgb", name: str | None = None) -> np.ndarray:
    """Return an ``H×W×3`` uint8 RGB array with EXIF orientation applied.

    ``source`` may be encoded bytes, a path, a PIL image or an array (``channel_order="bgr"`` for
    OpenCV / video frames). Raises :class:`ImageLoadError` for anything unusable.
    """
    if isinstance(source, np.ndarray):
        return array_to_rgb(source, channel_order=channel_order)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    label = name
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = label or path.name
        if not path.is_file():
            raise ImageLoadError(f"{label}: no such file")
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise ImageLoadError(_too_many_bytes(label, size))
            data = path.read_bytes()
        except OSError as exc:
            raise ImageLoadError(f"{label} cannot be read ({exc.strerror or exc})") from None
    else:
        data = bytes(source)
    return decode_image_bytes(data, name=label)


def decode_image_bytes(data: bytes, *, name: str | None = None) -> np.ndarray:
    label = name or "the file"
    if len(data) == 0:
        raise ImageLoadError(f"{label} is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageLoadError(_too_many_bytes(label, len(data)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageLoadError(
                    f"{label} is {width}×{height} pixels ({width * height / 1e6:.0f} MP); "
                    f"the limit is {MAX_PIXELS / 1e6:.0f} MP. Please downscale it first."
                )
            if width == 0 or height == 0:
                raise ImageLoadError(f"{label} has no pixels ({width}×{height})")
            if max(width, height) > MAX_ASPECT * min(width, height):
                raise ImageLoadError(f"{label} is {width}×{height} pixels, more than {MAX_ASPECT} times as long as it is "
                                     "wide: too thin to show. Please crop it first.")
            image.seek(0)  # first frame of animations
            image.load()
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{label} is not an image file this app can read (PNG, JPEG, GIF, BMP, TIFF, WebP…)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(f"{label} declares too many pixels to decode safely; please downscale it first") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{label} is damaged or truncated and cannot be decoded ({exc})") from None
    return _pil_to_rgb(image)


def size_note(image: np.ndarray, label: str) -> str | None:
    """A warning for a picture too small to show the networks anything, or None."""
    height, width = image.shape[:2]
    if min(height, width) >= MIN_USEFUL_SIDE:
        return None
    return (f"{label} is only {width}×{height} pixels: too small for the networks to find much. It is scaled up "
            f"as it is; results on pictures under {MIN_USEFUL_SIDE} px a side mean little.")


def _too_many_bytes(label: str, size: int) -> str:
    return f"{label} is {size / 2**20:.1f} MiB; the limit is {MAX_BYTES / 2**20:.0f} MiB"


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the user the picture
        pass
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _gray_to_rgb(_high_depth_to_uint8(np.asarray(image), mode))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return _composite(image.convert("RGBA"))
    if mode == "RGB":
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    # L, 1, P, CMYK, YCbCr, LAB, HSV: Pillow's own conversions are correct for these
    # (it undoes Adobe's inverted CMYK when decoding the JPEG).
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _high_depth_to_uint8(array: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit and float samples to 8 bits instead of clipping them as ``convert`` does."""
    array = array.astype(np.float64)
    if mode == "F":
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        if low >= 0.0 and high <= 1.0:
            scaled = array * 255.0
        else:
            scaled = (array - low) / max(high - low, 1e-12) * 255.0
    else:
        # 16-bit data (Pillow hands 16-bit PNG/TIFF over as I;16 or I).
        scaled = array / 65535.0 * 255.0 if array.max() > 255 or mode.startswith("I;16") else array
    return np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def _composite(rgba: Image.Image) -> np.ndarray:
    array = np.asarray(rgba, dtype=np.float32)
    alpha = array[..., 3:4] / 255.0
    background = np.asarray(TRANSPARENT_BACKGROUND, dtype=np.float32)
    rgb = array[..., :3] * alpha + background * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def array_to_rgb(array: np.ndarray, *, channel_order: str = "rgb") -> np.ndarray:
    """Arrays from cameras, OpenCV or NumPy code: gray, RGB(A)/BGR(A), uint8/uint16/float."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageLoadError(f"expected an H×W, H×W×3 or H×W×4 image array, got shape {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageLoadError(f"the image has {array.shape[0] * array.shape[1] / 1e6:.0f} MP; the limit is {MAX_PIXELS / 1e6:.0f} MP")
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.uint16:
        array = np.rint(array.astype(np.float32) / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        array = np.clip(np.rint(np.nan_to_num(array) * 255.0), 0, 255).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    else:
        raise ImageLoadError(f"unsupported pixel type {array.dtype}")
    channels = array.shape[2]
    if channels == 1:
        return _gray_to_rgb(array[..., 0])
    if channel_order.lower() == "bgr":
        array = array[..., [2, 1, 0, 3][:channels]]
    if channels == 4:
        return _composite(Image.fromarray(np.ascontiguousarray(array), "RGBA"))
    return np.ascontiguousarray(array)


def fit_longest_side(image: np.ndarray, longest: int) -> np.ndarray:
    """``image`` shrunk (bilinear, aspect kept) so that its longest side is at most ``longest``."""
    height, width = image.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def distinct_names(names: list[str]) -> list[str]:
    """File names made unique in order: two uploads called ``photo.jpg`` become ``photo.jpg`` and
    ``photo (2).jpg``, so results and downloads named after them do not overwrite each other."""
    taken: set[str] = set()
    distinct = []
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if not stem:  # no extension, or a name like ".png"
            stem, dot, suffix = name, "", ""
        candidate, copy = name, 1
        while candidate in taken:
            copy += 1
            candidate = f"{stem} ({copy}){dot}{suffix}"
        taken.add(candidate)
        distinct.append(candidate)
    return distinct


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB/gray/indexed uint8 array, for downloads."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# A truncated upload should be an error, never a half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def to_tensor(image: np.ndarray, device=None):
    """H×W×3 uint8 -> (3, H, W) uint8 torch tensor on ``device`` (a copy: upload buffers are read-only)."""
    import torch

    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).to(device)
