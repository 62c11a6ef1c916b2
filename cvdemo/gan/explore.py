"""The page's experiments as plain functions: generator + latent tools + measurements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from cvdemo.gan.generator import FaceGenerator
from cvdemo.gan.sampling import latents, scale_norm, truncate
from cvdemo.gan.stats import clipped_fraction, detector_input, mean_face_stats, pixel_diversity, roughness
from cvdemo.results import Detections

Progress = Callable[[int, int], None]


@dataclass
class SweepRow:
    """One temperature (or truncation threshold) of a sweep over the same base vectors."""

    setting: float
    images: np.ndarray  # (n, 64, 64, 3) uint8, all samples the figures were measured on
    diversity: float  # mean pairwise RMS distance, see stats.pixel_diversity
    roughness: float  # median; > 1 means texture or noise rather than a smooth face
    eye_contrast: float  # of the mean face; ≈ 0.1 for real-looking batches, ≈ 0 for noise
    clipped: float  # share of saturated pixel values, see stats.clipped_fraction
    mean_norm: float  # mean ‖z‖ fed to the generator
    detection_rate: float | None = None  # filled in when a face detector is used


def sweep_latents(base: torch.Tensor, setting: float, mode: str, seed: int) -> torch.Tensor:
    if mode == "temperature":
        return scale_norm(base, setting)
    if mode == "truncation":
        return truncate(base, setting, seed)
    raise ValueError(f"unknown sweep mode {mode!r}: use 'temperature' or 'truncation'")


def temperature_sweep(generator: FaceGenerator, seed: int, settings: Sequence[float], n: int = 32,
                      mode: str = "temperature", progress: Progress | None = None) -> list[SweepRow]:
    """The same ``n`` base vectors at every setting, so rows differ only by the setting."""
    base = latents(seed, n)
    rows = []
    for number, setting in enumerate(settings):
        z = sweep_latents(base, float(setting), mode, seed)
        images = generator.generate(z)
        rows.append(SweepRow(
            setting=float(setting),
            images=images,
            diversity=pixel_diversity(images),
            roughness=float(np.median(roughness(images))),
            eye_contrast=mean_face_stats(images).eye_contrast,
            clipped=clipped_fraction(images),
            mean_norm=float(z.norm(dim=1).mean()),
        ))
        if progress is not None:
            progress(number + 1, len(settings))
    return rows


def add_detection_rates(rows: list[SweepRow], detect: Callable[[np.ndarray], Detections], per_row: int = 8,
                        progress: Progress | None = None) -> None:
    """Fill ``detection_rate`` from a face detector on the first ``per_row`` samples of each row."""
    total = len(rows) * per_row
    done = 0
    for row in rows:
        hits = 0
        for image in row.images[:per_row]:
            hits += len(detect(detector_input(image))) > 0
            done += 1
            if progress is not None:
                progress(done, total)
        row.detection_rate = hits / max(1, min(per_row, len(row.images)))


@dataclass
class IdentityMap:
    """What a face-recognition network thinks of generated faces."""

    found: np.ndarray  # (N,) bool: a face was detected and embedded
    descriptors: np.ndarray  # (M, 128) for the found faces
    distances: np.ndarray  # (M, M) Euclidean descriptor distances
    latent_distances: np.ndarray  # (M, M) ‖z_i − z_j‖
    chips: np.ndarray = field(default_factory=lambda: np.zeros((0, 150, 150, 3), np.uint8))

    @property
    def indices(self) -> np.ndarray:
        return np.flatnonzero(self.found)

    def chip(self, grid_index: int) -> np.ndarray:
        """The aligned 150-px chip the embedder saw for a face of the grid (one that was found)."""
        position = int(np.searchsorted(self.indices, grid_index))
        if position >= len(self.indices) or self.indices[position] != grid_index:
            raise KeyError(f"MTCNN found no face in grid face {grid_index}")
        return self.chips[position]

    def pair_distances(self) -> np.ndarray:
        """Descriptor distances of every pair of found faces (each pair once)."""
        return self.distances[np.triu_indices(len(self.descriptors), 1)]

    def nearest_pair(self) -> tuple[int, int, float] | None:
        """Grid indices of the two most similar faces and their distance."""
        if len(self.descriptors) < 2:
            return None
        masked = self.distances + np.diag(np.full(len(self.distances), np.inf))
        i, j = np.unravel_index(np.argmin(masked), masked.shape)
        return int(self.indices[i]), int(self.indices[j]), float(masked[i, j])


def identity_map(pipeline, images: np.ndarray, z: torch.Tensor, factor: int = 3,
                 progress: Progress | None = None) -> IdentityMap:
    """Detect, align and embed each generated face with a :class:`cvdemo.faces.verify.FacePipeline`.

    The 64-px faces are enlarged ``factor``× with Lanczos first: the alignment cuts a 150-px chip
    and the embedder was trained on faces at least that large.
    """
    found, descriptors, chips = [], [], []
    for index, image in enumerate(images):
        faces = pipeline.faces(detector_input(image, factor))
        if faces:
            best = max(faces, key=lambda f: f.score)
            descriptors.append(best.descriptor)
            chips.append(best.chip)
        found.append(bool(faces))
        if progress is not None:
            progress(index + 1, len(images))
    found_mask = np.array(found, dtype=bool)
    descriptor_array = np.array(descriptors, dtype=np.float32).reshape(-1, 128)
    diff = descriptor_array[:, None, :].astype(np.float64) - descriptor_array[None, :, :]
    kept = torch.as_tensor(z)[torch.from_numpy(found_mask)].double()
    return IdentityMap(
        found=found_mask,
        descriptors=descriptor_array,
        distances=np.linalg.norm(diff, axis=-1),
        latent_distances=torch.cdist(kept, kept).numpy() if len(kept) else np.zeros((0, 0)),
        chips=np.stack(chips).astype(np.uint8) if chips else np.zeros((0, 150, 150, 3), np.uint8),
    )
