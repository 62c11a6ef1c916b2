"""Gated-SCNN's idea on a real photo: image gradients as a shape stream, gated by a segmenter.

Gated-SCNN (Takikawa et al., 2019) runs a *shape stream* beside the regular segmentation stream.
The shape stream is fed image gradients; its gated convolutional layers compute, per pixel, a gate
``α = σ(C₁ₓ₁(s ‖ r))`` from the shape features ``s`` concatenated with the regular stream's
features ``r``, and pass on ``s ⊙ α``. Where the regular stream sees an object boundary the gate
opens; on texture edges inside or outside objects it closes, so the shape stream learns boundaries
of *objects*, not of every pattern.

This module illustrates that with real inputs and one hand-set 1×1 convolution — it is not the
trained network:

* ``s`` = the Sobel gradient magnitude of the photo (:func:`sobel_magnitude`), scaled to [0, 1];
* ``r`` = the boundary of a real segmenter's mask, as a band that fades with the distance to the
  mask's edge (:func:`boundary_band`);
* ``α = σ(w_s·s + w_r·r + b)`` with weights the user sets (:func:`gate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# ITU-R BT.601 luma, as OpenCV and PIL convert RGB to grey.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])
SOBEL_DIFFERENCE = np.array([-1.0, 0.0, 1.0])


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (H, W) float64 luma in [0, 255]; a (H, W) image is returned as float."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return image[..., :3].astype(np.float64) @ LUMA


def sobel_gradients(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """∂/∂x and ∂/∂y by the 3×3 Sobel kernels (smoothing [1 2 1] ⊗ difference [-1 0 1]); borders
    mirrored without repeating the edge pixel, so a constant picture has zero gradient everywhere."""
    padded = np.pad(values.astype(np.float64), 1, mode="reflect")
    height, width = values.shape

    def correlate(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        out = np.zeros((height, width))
        for dy in range(3):
            for dx in range(3):
                out += rows[dy] * columns[dx] * padded[dy:dy + height, dx:dx + width]
        return out

    return correlate(SOBEL_SMOOTH, SOBEL_DIFFERENCE), correlate(SOBEL_DIFFERENCE, SOBEL_SMOOTH)


def sobel_magnitude(image: np.ndarray) -> np.ndarray:
    """|∇I| = √(Gx² + Gy²) of the photo's luma (float64, in grey levels × 4 of the Sobel kernel's weight)."""
    gx, gy = sobel_gradients(grey(image))
    return np.hypot(gx, gy)


def normalised(values: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scaled so that the ``percentile``-th value is 1 (clipped): a few extreme edges do not squash the rest."""
    top = float(np.percentile(values, percentile)) if values.size else 0.0
    if top <= 0:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip(values / top, 0.0, 1.0)


def mask_edges(mask: np.ndarray) -> np.ndarray:
    """Pixels of a boolean mask with a 4-neighbour of the other value: the boundary, on both sides."""
    mask = mask.astype(bool)
    edges = np.zeros_like(mask)
    vertical = mask[1:] != mask[:-1]
    horizontal = mask[:, 1:] != mask[:, :-1]
    edges[1:] |= vertical
    edges[:-1] |= vertical
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    return edges


def distance_to_edge(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance, in pixels, from every pixel to the nearest boundary pixel of ``mask``
    (infinite everywhere when the mask has no boundary)."""
    edges = mask_edges(mask)
    if not edges.any():
        return np.full(mask.shape, np.inf)
    return cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)


def boundary_band(mask: np.ndarray, width: float) -> np.ndarray:
    """r = exp(−d² / (2·width²)), d the distance to the mask's edge: 1 on it, ≈ 0.6 at ``width``
    pixels, fading to 0 — the segmenter's belief "an object boundary is here"."""
    distance = distance_to_edge(mask)
    return np.exp(-np.square(distance) / (2.0 * width ** 2))


@dataclass(frozen=True)
class GateWeights:
    shape: float = 4.0  # w_s: weight of the gradient (shape stream) channel
    regular: float = 10.0  # w_r: weight of the segmenter's boundary (regular stream) channel
    bias: float = -7.0  # b

    def alpha(self, shape: np.ndarray, regular: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.shape * shape + self.regular * regular + self.bias)))


@dataclass(frozen=True)
class GatedShape:
    gradient: np.ndarray  # s: normalised Sobel magnitude in [0, 1]
    boundary: np.ndarray  # r: the segmenter's boundary band in [0, 1]
    alpha: np.ndarray  # σ(w_s·s + w_r·r + b)
    gated: np.ndarray  # s ⊙ α
    on_boundary: np.ndarray  # bool: r ≥ ½, the band the segmenter calls boundary

    @staticmethod
    def _share(values: np.ndarray, where: np.ndarray) -> float:
        total = float(values.sum())
        return float(values[where].sum()) / total if total > 0 else 0.0

    @property
    def boundary_share_before(self) -> float:
        """Share of all gradient on the segmenter's boundary band, before the gate."""
        return self._share(self.gradient, self.on_boundary)

    @property
    def boundary_share_after(self) -> float:
        return self._share(self.gated, self.on_boundary)

    def kept(self, where: np.ndarray) -> float:
        """Σ(s ⊙ α) / Σ s over ``where``: how much of those gradients passes the gate."""
        total = float(self.gradient[where].sum())
        return float(self.gated[where].sum()) / total if total > 0 else 0.0

    @property
    def kept_on_boundary(self) -> float:
        return self.kept(self.on_boundary)

    @property
    def kept_elsewhere(self) -> float:
        """The texture and background edges: gradients away from the segmenter's boundary."""
        return self.kept(~self.on_boundary)


def gate(image: np.ndarray, mask: np.ndarray, weights: GateWeights = GateWeights(), band_width: float = 4.0) -> GatedShape:
    """The gated shape stream of ``image`` with the boundary of ``mask`` (boolean, same size)."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} and image {image.shape[:2]} differ in size")
    gradient = normalised(sobel_magnitude(image))
    boundary = boundary_band(mask, band_width)
    alpha = weights.alpha(gradient, boundary)
    # ½ of the band's peak: within width·√(2 ln 2) ≈ 1.18·width pixels of the edge
    return GatedShape(gradient, boundary, alpha, gradient * alpha, boundary >= 0.5)


def object_mask(classes: np.ndarray, categories: tuple[str, ...] | list[str], size: tuple[int, int],
                background: tuple[str, ...] = ("background", "__background__")) -> np.ndarray:
    """Every non-background pixel of a class map, resized (nearest) to ``size`` (h, w)."""
    wanted = np.array([name not in background for name in categories], dtype=bool)
    mask = wanted[classes].astype(np.uint8)
    if mask.shape != tuple(size):
        mask = cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)
