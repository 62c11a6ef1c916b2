"""Latent-space tools: seeded z, interpolation, walks, arithmetic, temperature, grids and GIFs.

Every function takes and returns CPU float32 tensors of shape (N, 100) (or images as uint8
arrays), so the same seed means the same vectors on every machine and device.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

NZ = 100  # the latent size: z ~ N(0, I) in 100 dimensions
MAX_SEED = 2**32 - 1


def _check_seed(seed: int) -> int:
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return seed


def face_seed(seed: int, index: int) -> int:
    """The torch seed of face ``index`` in the grid of ``seed``.

    Each face gets its own stream (mixed by NumPy's SeedSequence, so neighbouring seeds are
    unrelated) because one long ``randn(n, 100)`` call does not give the same first rows for
    different ``n``: this way face 7 of seed 42 is the same face in a 9-grid and a 64-grid.
    """
    state = np.random.SeedSequence([_check_seed(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1  # 63 bits: always a valid torch seed


def latent(seed: int, index: int = 0, nz: int = NZ) -> torch.Tensor:
    """z ~ N(0, I) for face ``index`` of ``seed``, drawn by a CPU generator: (nz,) float32."""
    generator = torch.Generator(device="cpu").manual_seed(face_seed(seed, index))
    return torch.randn(nz, generator=generator, dtype=torch.float32)


def latents(seed: int, n: int, start: int = 0, nz: int = NZ) -> torch.Tensor:
    """Faces ``start … start+n−1`` of ``seed``: (n, nz)."""
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    if n == 0:
        return torch.zeros(0, nz)
    return torch.stack([latent(seed, start + i, nz) for i in range(n)])


def slerp(a: torch.Tensor, b: torch.Tensor, t: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1): (len(t), nz).

    A 100-D Gaussian lives near the sphere of radius √100 = 10; a straight line between two
    samples dips to radius ≈ 7 halfway, where the generator saw no training inputs. Slerp follows
    the great circle instead (White, "Sampling Generative Networks", 2016). The endpoints come out
    exactly ``a`` and ``b``: sin(Ω)/sin(Ω) is exactly 1 and sin(0) exactly 0 in floating point.
    """
    a64, b64 = a.double().reshape(-1), b.double().reshape(-1)
    t64 = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    cosine = torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(1e-12)
    omega = torch.arccos(cosine.clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    if sin_omega < 1e-6:  # (anti)parallel: the great circle is undefined, a line is as good
        return lerp(a, b, t)
    path = torch.sin((1.0 - t64) * omega) / sin_omega * a64 + torch.sin(t64 * omega) / sin_omega * b64
    return path.float()


def lerp(a: torch.Tensor, b: torch.Tensor, t: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation, for comparison with :func:`slerp`: (len(t), nz)."""
    a64, b64 = a.double().reshape(1, -1), b.double().reshape(1, -1)
    t64 = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    return ((1.0 - t64) * a64 + t64 * b64).float()


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """``steps`` evenly spaced points from ``a`` to ``b``, both included."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    if method == "slerp":
        return slerp(a, b, t)
    if method == "lerp":
        return lerp(a, b, t)
    raise ValueError(f"unknown interpolation {method!r}: use 'slerp' or 'lerp'")


def random_walk(seed: int, steps: int, step_size: float = 0.2, start: torch.Tensor | None = None,
                nz: int = NZ) -> torch.Tensor:
    """A smooth random walk that never leaves the prior: (steps, nz).

    z₊ = √(1−β²)·z + β·ε with ε ~ N(0, I) keeps z ~ N(0, I) at every step (an AR(1) process), so
    each frame is as typical a sample as a fresh one, while β (``step_size``) sets how fast the
    face drifts. Starts at face 0 of ``seed`` unless ``start`` is given.
    """
    if steps < 1:
        raise ValueError(f"a walk needs at least 1 step, got {steps}")
    if not 0.0 < step_size <= 1.0:
        raise ValueError(f"step size must be in (0, 1], got {step_size}")
    generator = torch.Generator(device="cpu").manual_seed(face_seed(seed, 2**31))  # a stream no grid face uses
    z = (latent(seed, 0, nz) if start is None else start.reshape(-1).float()).clone()
    keep = math.sqrt(1.0 - step_size**2)
    frames = [z]
    for _ in range(steps - 1):
        z = keep * z + step_size * torch.randn(nz, generator=generator)
        frames.append(z)
    return torch.stack(frames)


def path_norms(path: torch.Tensor) -> np.ndarray:
    """‖z‖ along a path, to show how far a path strays from the radius-10 shell."""
    return path.double().norm(dim=1).numpy()


@dataclass
class Arithmetic:
    """A − B + C on the means of several picks per term, as in the DCGAN paper (§6.3)."""

    mean_a: torch.Tensor
    mean_b: torch.Tensor
    mean_c: torch.Tensor
    result: torch.Tensor

    def vectors(self) -> torch.Tensor:
        """(4, nz): mean A, mean B, mean C, result: one batch for the generator."""
        return torch.stack([self.mean_a, self.mean_b, self.mean_c, self.result])


def latent_arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> Arithmetic:
    """Average each term's vectors (k, nz), then combine: single samples are too noisy for
    concept arithmetic, while means of three or more keep what the picks share."""
    terms = []
    for name, term in (("A", a), ("B", b), ("C", c)):
        term = torch.as_tensor(term).reshape(-1, torch.as_tensor(term).shape[-1]).float()
        if term.shape[0] == 0:
            raise ValueError(f"term {name} needs at least one face")
        terms.append(term.mean(dim=0))
    mean_a, mean_b, mean_c = terms
    return Arithmetic(mean_a, mean_b, mean_c, mean_a - mean_b + mean_c)


def neighbours(z: torch.Tensor, n: int, scale: float = 0.25, seed: int = 0) -> torch.Tensor:
    """``n`` variations of ``z`` with uniform noise in ±``scale`` added, as the DCGAN paper did to
    show that the arithmetic result is a region of latent space, not a lucky point: (n, nz)."""
    generator = torch.Generator(device="cpu").manual_seed(face_seed(seed, 2**31 + 1))
    noise = (torch.rand(n, z.numel(), generator=generator) * 2.0 - 1.0) * scale
    return z.reshape(1, -1).float() + noise


def scale_norm(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature: multiply z (and so its norm) by ``temperature``. Below 1 the samples move
    towards the generator's "average face" (higher quality, less variety); above 1 they leave
    the region it was trained on."""
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0, got {temperature}")
    return z.float() * float(temperature)


def truncate(z: torch.Tensor, threshold: float, seed: int = 0) -> torch.Tensor:
    """The truncation trick (BigGAN): redraw every component with |zᵢ| > ``threshold`` until all
    fit. Unlike :func:`scale_norm` it keeps typical components untouched and cuts the tails."""
    if threshold <= 0:
        raise ValueError(f"truncation threshold must be > 0, got {threshold}")
    generator = torch.Generator(device="cpu").manual_seed(face_seed(seed, 2**31 + 2))
    out = z.float().clone()
    outside = out.abs() > threshold
    # Each redraw lands inside with probability P(|N(0,1)| ≤ τ) ≥ 0.38 for τ ≥ 0.5, so a few
    # dozen rounds leave nothing outside; the clamp below only matters for tiny thresholds.
    for _ in range(64):
        if not outside.any():
            break
        out[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = out.abs() > threshold
    return out.clamp_(-threshold, threshold)


def grid_columns(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile (N, H, W, 3) uint8 images row by row with ``padding`` pixels between and around."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, H, W, C) batch, got shape {images.shape}")
    n, height, width, channels = images.shape
    columns = min(columns or grid_columns(n), n)
    rows = math.ceil(n / columns)
    grid = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
                   pad_value, dtype=images.dtype)
    for index, image in enumerate(images):
        top, left = tile_origin(index, columns, (height, width), padding)
        grid[top:top + height, left:left + width] = image
    return grid


def tile_origin(index: int, columns: int, tile: tuple[int, int], padding: int = 2) -> tuple[int, int]:
    """(top, left) pixel of tile ``index`` in :func:`make_grid`'s layout."""
    row, column = divmod(index, columns)
    return padding + row * (tile[0] + padding), padding + column * (tile[1] + padding)


def upscale(image: np.ndarray, factor: int = 4, resample: int = Image.Resampling.LANCZOS) -> np.ndarray:
    """Enlarge for display with a proper filter; Lanczos keeps edges without nearest's blocks."""
    if factor < 1:
        raise ValueError(f"upscale factor must be ≥ 1, got {factor}")
    if factor == 1:
        return np.asarray(image)
    pil = Image.fromarray(np.asarray(image))
    return np.asarray(pil.resize((pil.width * factor, pil.height * factor), resample))


def animated_gif(frames: np.ndarray, duration_ms: int = 80, boomerang: bool = True, factor: int = 2) -> bytes:
    """An endlessly looping GIF of (N, H, W, 3) frames, optionally played forth and back."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, H, W, 3) stack of frames, got shape {frames.shape}")
    order = list(range(len(frames)))
    if boomerang and len(frames) > 2:
        order += order[-2:0:-1]  # back again without repeating the end frames
    # GIF needs a 256-colour palette per frame. Fast octree is an order of magnitude quicker than
    # Pillow's default median cut for about one grey level more error (`make bench`: "slerp walk
    # 32 frames + GIF"), and each distinct frame is quantised once even when the boomerang shows it twice.
    palettes = [Image.fromarray(upscale(frame, factor)).quantize(256, method=Image.Quantize.FASTOCTREE,
                                                                 dither=Image.Dither.NONE) for frame in frames]
    pictures = [palettes[i] for i in order]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=max(20, int(duration_ms)), loop=0, disposal=2)
    return buffer.getvalue()


def label_tiles(grid: np.ndarray, n: int, columns: int, tile: int, padding: int = 2, scale: int = 2) -> np.ndarray:
    """An enlarged copy of a :func:`make_grid` grid with each face's index in its corner, so faces
    can be picked by number (latent arithmetic). Enlarged first: digits on a 64-px tile would
    cover the face."""
    from PIL import ImageDraw

    picture = Image.fromarray(upscale(grid, scale))
    draw = ImageDraw.Draw(picture)
    for index in range(n):
        top, left = tile_origin(index, columns, (tile, tile), padding)
        x, y = left * scale + 2, top * scale + 2
        text = str(index)
        box = draw.textbbox((x, y), text)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
        draw.text((x, y), text, fill=(255, 255, 255))
    return np.asarray(picture)
