"""One-click sample photos for the face pages, built from scikit-image's public-domain images.

scikit-image ships two photos with a face: the astronaut (Eileen Collins) and the cameraman.
Edited copies of them show the pipeline's behaviour under pose, lighting and size changes and
the bad cases (no face, several faces, a tiny face) without any upload.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance

from cvdemo.images import load_image


def _astronaut() -> np.ndarray:
    from skimage import data

    return load_image(np.asarray(data.astronaut()))


def _cameraman() -> np.ndarray:
    from skimage import data

    return load_image(np.asarray(data.camera()))


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image)


def _coffee() -> np.ndarray:
    from skimage import data

    return load_image(np.asarray(data.coffee()))


def _side_by_side() -> np.ndarray:
    a, b = _astronaut(), _cameraman()
    return np.ascontiguousarray(np.concatenate([a, b], axis=1))


SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut (Eileen Collins)": _astronaut,
    "astronaut, mirrored": lambda: np.ascontiguousarray(_astronaut()[:, ::-1]),
    "astronaut, half as bright": lambda: np.asarray(ImageEnhance.Brightness(_pil(_astronaut())).enhance(0.5)),
    "astronaut, rotated 15°": lambda: np.asarray(_pil(_astronaut()).rotate(15, resample=Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))),
    "cameraman": _cameraman,
    "cameraman, mirrored": lambda: np.ascontiguousarray(_cameraman()[:, ::-1]),
    "astronaut and cameraman (two faces)": _side_by_side,
    "astronaut, shrunk (tiny face)": lambda: np.asarray(_pil(_astronaut()).resize((128, 128), Image.Resampling.BILINEAR)),
    "coffee cup (no face)": _coffee,
}
# Identity of each sample, for the demo gallery (None: not a usable single face).
IDENTITY = {
    "astronaut (Eileen Collins)": "Eileen Collins",
    "astronaut, mirrored": "Eileen Collins",
    "astronaut, half as bright": "Eileen Collins",
    "astronaut, rotated 15°": "Eileen Collins",
    "cameraman": "cameraman",
    "cameraman, mirrored": "cameraman",
}


@lru_cache(maxsize=16)
def sample(name: str) -> np.ndarray:
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    image = np.ascontiguousarray(SAMPLES[name]())
    image.setflags(write=False)  # shared by every session: nobody may draw on it
    return image
