"""Numbers about batches of generated faces: how varied they are, and whether they are faces.

The pixel statistics need no other model, so they always work (and the tests rely on them);
the detector-based rate uses a face detector from the registry when one is ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

from cvdemo.results import Detections


def pixel_diversity(images: np.ndarray) -> float:
    """Mean pairwise RMS distance between images, in [0, 1] pixel units (0: all identical).

    A blunt but honest spread figure: it counts pose, lighting and background as much as
    identity, which is what "less diversity" at low temperature looks like on screen too.
    """
    images = np.asarray(images)
    n = images.shape[0]
    if n < 2:
        return 0.0
    flat = torch.from_numpy(images.reshape(n, -1).astype(np.float32) / 255.0)
    distances = torch.cdist(flat, flat) / np.sqrt(flat.shape[1])
    return float(distances.sum() / (n * (n - 1)))


def clipped_fraction(images: np.ndarray) -> float:
    """Share of pixel values at 0 or 255: tanh saturating, the first artefact of a z outside the
    range the generator was trained on (about 3% at T = 1, 8% at T = 2, 15% at T = 3)."""
    images = np.asarray(images)
    return float(((images == 0) | (images == 255)).mean()) if images.size else 0.0


def _gray(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float64).mean(axis=-1) / 255.0


def roughness(images: np.ndarray) -> np.ndarray:
    """Per image: mean |Laplacian| relative to the image's contrast.

    Photos (and the DigiFace renders) are smooth almost everywhere, so this stays well below 1;
    an untrained generator's checkerboards or plain noise land at 3–4. Scale-free, so a dark or
    low-contrast face does not look "smoother" than a bright one.
    """
    gray = _gray(images)
    laplacian = (4 * gray[:, 1:-1, 1:-1] - gray[:, :-2, 1:-1] - gray[:, 2:, 1:-1]
                 - gray[:, 1:-1, :-2] - gray[:, 1:-1, 2:])
    return np.abs(laplacian).mean(axis=(1, 2)) / (gray.std(axis=(1, 2)) + 1e-6)


@dataclass(frozen=True)
class MeanFaceStats:
    """What the average of many samples looks like; an average of aligned faces is a face.

    ``symmetry``: correlation of the mean image with its mirror image (1 = symmetric).
    ``eye_contrast``: how much darker the eye band (a row band in the upper half) is than the
    cheek band below it, in [0, 1] grey levels: eyes, brows and their shadows are the darkest
    horizontal structure of a frontal face. ``eye_row`` is where that band was found.
    """

    symmetry: float
    eye_contrast: float
    eye_row: int
    mean_image: np.ndarray  # (H, W, 3) uint8


def mean_face_stats(images: np.ndarray) -> MeanFaceStats:
    images = np.asarray(images)
    mean = images.astype(np.float64).mean(axis=0)
    gray = mean.mean(axis=-1) / 255.0
    height, width = gray.shape
    centred = gray - gray.mean()
    mirrored = centred[:, ::-1]
    symmetry = float((centred * mirrored).sum() / np.sqrt((centred**2).sum() * (mirrored**2).sum() + 1e-12))
    # Profile of the central half of the columns, where eyes and cheeks are; the background at
    # the sides would blur the profile.
    profile = gray[:, width // 4: width - width // 4].mean(axis=1)
    band = max(2, height // 16)
    search = range(height // 4, height // 2 + band)  # eyes sit in the upper middle of an aligned face
    eye_row = min(search, key=lambda row: profile[row - band // 2: row + band // 2 + 1].mean())
    eyes = profile[eye_row - band // 2: eye_row + band // 2 + 1].mean()
    cheeks = profile[eye_row + 2 * band: eye_row + 4 * band + 1].mean()
    return MeanFaceStats(symmetry, float(cheeks - eyes), int(eye_row), np.clip(np.rint(mean), 0, 255).astype(np.uint8))


def detector_input(image: np.ndarray, factor: int = 1) -> np.ndarray:
    """A face prepared for a photo face detector (optionally enlarged with Lanczos)."""
    if factor == 1:
        return np.ascontiguousarray(image)
    pil = Image.fromarray(np.asarray(image))
    return np.asarray(pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.LANCZOS))


def face_detection_rate(detect: Callable[[np.ndarray], Detections], images: np.ndarray,
                        progress: Callable[[int, int], None] | None = None) -> tuple[float, np.ndarray]:
    """Fraction of images in which ``detect`` (image → Detections) finds at least one face, and
    each image's best score (0 where none was found)."""
    best = np.zeros(len(images), dtype=np.float32)
    for index, image in enumerate(images):
        found = detect(detector_input(image))
        if len(found):
            best[index] = float(np.max(found.scores))
        if progress is not None:
            progress(index + 1, len(images))
    return float((best > 0).mean()) if len(images) else 0.0, best
