"""How decoders upsample: transposed convolution three ways, checkerboards, unpooling, atrous taps.

Conventions follow PyTorch (and the lecture): a *transposed* convolution with kernel ``k``,
stride ``s`` and padding ``p`` maps an ``n``-pixel input to ``(n - 1)·s - 2p + k`` pixels; each
input pixel ``x[i]`` adds ``x[i]·k[a]`` to output pixel ``i·s + a - p``. It is the adjoint of the
ordinary convolution (cross-correlation, as ``conv2d``) with the same kernel, stride and padding
that maps the big map back to the small one: if that convolution is the matrix ``U`` then the
transposed convolution is ``Uᵀ`` — hence the name.

Everything here is exact small-array maths in NumPy (float64) so that the numbers shown on the
page are the numbers a student can check by hand; ``torch.nn.functional.conv_transpose2d`` is
the reference in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from cvdemo.geometry import Pair, pair


def _kernel(kernel: np.ndarray | Sequence) -> np.ndarray:
    array = np.asarray(kernel, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"the kernel must be a 2-D array, got shape {array.shape}")
    return array


def transposed_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a transposed convolution (no output_padding, dilation 1)."""
    return (size - 1) * stride - 2 * padding + kernel


def _check(input_shape: Sequence[int], kernel_shape: Sequence[int], stride: tuple[int, int],
           padding: tuple[int, int]) -> tuple[int, int]:
    for axis, (n, k, s, p) in enumerate(zip(input_shape, kernel_shape, stride, padding)):
        name = "height" if axis == 0 else "width"
        if n < 1:
            raise ValueError(f"input {name} must be at least 1, got {n}")
        if s < 1:
            raise ValueError(f"stride must be at least 1, got {s}")
        if p < 0:
            raise ValueError(f"padding must not be negative, got {p}")
        if transposed_output_size(n, k, s, p) < 1:
            raise ValueError(
                f"padding {p} crops the whole output: (n-1)·s - 2p + k = ({n}-1)·{s} - 2·{p} + {k} "
                f"= {transposed_output_size(n, k, s, p)} {name} pixels"
            )
    height, width = (transposed_output_size(n, k, s, p) for n, k, s, p in zip(input_shape, kernel_shape, stride, padding))
    return height, width


def output_shape(input_shape: tuple[int, int], kernel_shape: tuple[int, int], stride: Pair, padding: Pair) -> tuple[int, int]:
    return _check(tuple(input_shape), tuple(kernel_shape), pair(stride, "stride"), pair(padding, "padding"))


def convolution_matrix(input_shape: tuple[int, int], kernel: np.ndarray | Sequence, stride: Pair = 1,
                       padding: Pair = 0) -> np.ndarray:
    """``U``: the ordinary convolution from the *output* size back down to ``input_shape``.

    Shape ``(in_h·in_w, out_h·out_w)``; row ``r`` holds the kernel weights that input pixel ``r``
    (row-major) is computed from. ``U @ big.ravel()`` equals ``conv2d(big, kernel, stride, padding)``.
    """
    k = _kernel(kernel)
    stride_hw, padding_hw = pair(stride, "stride"), pair(padding, "padding")
    in_h, in_w = int(input_shape[0]), int(input_shape[1])
    out_h, out_w = _check((in_h, in_w), k.shape, stride_hw, padding_hw)
    (sh, sw), (ph, pw), (kh, kw) = stride_hw, padding_hw, k.shape
    matrix = np.zeros((in_h * in_w, out_h * out_w), dtype=np.float64)
    for i in range(in_h):
        for j in range(in_w):
            row = i * in_w + j
            for a in range(kh):
                y = i * sh + a - ph
                if not 0 <= y < out_h:
                    continue  # this tap falls on the padding, which is not part of the output
                for b in range(kw):
                    x = j * sw + b - pw
                    if 0 <= x < out_w:
                        matrix[row, y * out_w + x] += k[a, b]
    return matrix


def transposed_conv_matrix(input_shape: tuple[int, int], kernel: np.ndarray | Sequence, stride: Pair = 1,
                           padding: Pair = 0) -> np.ndarray:
    """``Uᵀ``, shape ``(out_h·out_w, in_h·in_w)``: column ``c`` is where input pixel ``c`` paints the kernel."""
    return convolution_matrix(input_shape, kernel, stride, padding).T


def transposed_conv_via_matrix(x: np.ndarray | Sequence, kernel: np.ndarray | Sequence, stride: Pair = 1,
                               padding: Pair = 0) -> np.ndarray:
    """The output as ``Uᵀ · vec(x)``, reshaped to ``(out_h, out_w)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"the input must be a 2-D array, got shape {x.shape}")
    k = _kernel(kernel)
    out_shape = output_shape(x.shape, k.shape, stride, padding)
    return (transposed_conv_matrix(x.shape, k, stride, padding) @ x.ravel()).reshape(out_shape)


def zero_insert(x: np.ndarray | Sequence, stride: Pair, kernel_shape: tuple[int, int], padding: Pair = 0) -> np.ndarray:
    """``x`` with ``stride - 1`` zeros between its pixels and ``k - 1 - p`` zeros around it.

    Where ``p > k - 1`` the border is cropped instead (negative padding). An ordinary stride-1
    convolution of this map with the kernel rotated by 180° is the transposed convolution.
    """
    x = np.asarray(x, dtype=np.float64)
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
    _check(x.shape, (kh, kw), (sh, sw), (ph, pw))
    dilated = np.zeros(((x.shape[0] - 1) * sh + 1, (x.shape[1] - 1) * sw + 1), dtype=np.float64)
    dilated[::sh, ::sw] = x
    border_h, border_w = kh - 1 - ph, kw - 1 - pw
    padded = np.pad(dilated, ((max(border_h, 0),) * 2, (max(border_w, 0),) * 2))
    crop_h, crop_w = max(-border_h, 0), max(-border_w, 0)
    return padded[crop_h:padded.shape[0] - crop_h, crop_w:padded.shape[1] - crop_w]


def correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Stride-1 'valid' cross-correlation, the operation ``conv2d`` performs."""
    kh, kw = kernel.shape
    windows = np.lib.stride_tricks.sliding_window_view(image, (kh, kw))
    return np.einsum("ijab,ab->ij", windows, kernel)


def transposed_conv_via_zero_insertion(x: np.ndarray | Sequence, kernel: np.ndarray | Sequence, stride: Pair = 1,
                                       padding: Pair = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(zero-inserted input, output)``: insert zeros, pad, then convolve with the flipped kernel."""
    k = _kernel(kernel)
    expanded = zero_insert(x, stride, k.shape, padding)
    return expanded, correlate_valid(expanded, k[::-1, ::-1])


def transposed_conv_scatter(x: np.ndarray | Sequence, kernel: np.ndarray | Sequence, stride: Pair = 1,
                            padding: Pair = 0) -> np.ndarray:
    """The definition itself: every input pixel paints ``x[i, j] · kernel`` at ``(i·s - p, j·s - p)``."""
    x = np.asarray(x, dtype=np.float64)
    k = _kernel(kernel)
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    out_h, out_w = _check(x.shape, k.shape, (sh, sw), (ph, pw))
    full = np.zeros(((x.shape[0] - 1) * sh + k.shape[0], (x.shape[1] - 1) * sw + k.shape[1]))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            full[i * sh:i * sh + k.shape[0], j * sw:j * sw + k.shape[1]] += x[i, j] * k
    return full[ph:ph + out_h, pw:pw + out_w]


@dataclass(frozen=True)
class WorkedExample:
    """The lecture's example: a 2×2 input, a 3×3 kernel, a 4×4 output."""

    input: np.ndarray
    kernel: np.ndarray
    stride: int
    padding: int
    output: np.ndarray


# Stride 1 and padding 0 are what make 2×2 → 4×4 with a 3×3 kernel: (2 - 1)·1 - 0 + 3 = 4
# (stride 2 would give 5×5, and any padding would shrink the 4×4).
WORKED_EXAMPLE = WorkedExample(
    input=np.array([[2, 1], [4, 4]], dtype=np.float64),
    kernel=np.array([[1, 4, 1], [1, 4, 3], [3, 3, 1]], dtype=np.float64),
    stride=1,
    padding=0,
    output=np.array([[2, 9, 6, 1], [6, 29, 30, 7], [10, 29, 33, 13], [12, 24, 16, 4]], dtype=np.float64),
)


# --- checkerboard artefacts --------------------------------------------------------------------

def overlap_counts(input_shape: tuple[int, int], kernel_size: Pair, stride: Pair, padding: Pair = 0,
                   layers: int = 1) -> np.ndarray:
    """How many input pixels paint each output pixel: a transposed conv of ones with a kernel of ones.

    With a kernel size that is not a multiple of the stride, neighbouring output pixels receive
    different numbers of contributions — the checkerboard (Odena et al., 2016). ``layers`` stacks
    the same layer, feeding each count map (normalised to mean 1) into the next, as a decoder does.
    """
    kernel = np.ones(pair(kernel_size, "kernel size"), dtype=np.float64)
    counts = np.ones(tuple(int(v) for v in input_shape), dtype=np.float64)
    for _ in range(max(1, int(layers))):
        counts = transposed_conv_scatter(counts / counts.mean(), kernel, stride, padding)
    return counts if layers <= 1 else counts / counts.mean()


def resize_conv_counts(input_shape: tuple[int, int], kernel_size: Pair, stride: Pair, layers: int = 1) -> np.ndarray:
    """The same map for the usual fix: nearest-neighbour resize by ``stride``, then a 'same' convolution.

    Every output pixel sees exactly ``k_h·k_w`` resized pixels, so the interior is flat; only the
    zero padding at the border darkens the edge.
    """
    (sh, sw), (kh, kw) = pair(stride, "stride"), pair(kernel_size, "kernel size")
    counts = np.ones(tuple(int(v) for v in input_shape), dtype=np.float64)
    for _ in range(max(1, int(layers))):
        resized = np.repeat(np.repeat(counts / counts.mean(), sh, axis=0), sw, axis=1)
        padded = np.pad(resized, ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2)))
        counts = correlate_valid(padded, np.ones((kh, kw)))
    return counts if layers <= 1 else counts / counts.mean()


def interior(counts: np.ndarray, margin: int) -> np.ndarray:
    """Drop ``margin`` pixels at each border, where padding rather than overlap shapes the counts."""
    if margin <= 0 or counts.shape[0] <= 2 * margin or counts.shape[1] <= 2 * margin:
        return counts
    return counts[margin:-margin, margin:-margin]


def unevenness(counts: np.ndarray, margin: int) -> float:
    """max / min of the interior counts: 1.0 is even, the checkerboard has 4.0 for k=3, s=2 in 2-D."""
    core = interior(counts, margin)
    low = float(core.min())
    return float(core.max()) / low if low > 0 else float("inf")


# --- unpooling ---------------------------------------------------------------------------------

def unpooling_examples(x: np.ndarray | Sequence, size: int = 2) -> dict[str, np.ndarray]:
    """Three fixed (weight-free) ways to undo a ``size``×``size`` pooling of ``x``.

    ``x`` is the full-resolution map; it is max-pooled first, so "max unpooling" can put each
    maximum back where it came from (the pooling switches, SegNet-style).
    """
    import torch
    import torch.nn.functional as F

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] % size or x.shape[1] % size:
        raise ValueError(f"the map must be 2-D with sides divisible by {size}, got shape {x.shape}")
    tensor = torch.from_numpy(x)[None, None]
    pooled, switches = F.max_pool2d(tensor, size, return_indices=True)
    nearest = np.repeat(np.repeat(pooled[0, 0].numpy(), size, axis=0), size, axis=1)
    bed_of_nails = np.zeros_like(x)
    bed_of_nails[::size, ::size] = pooled[0, 0].numpy()
    max_unpooled = F.max_unpool2d(pooled, switches, (size, size), output_size=x.shape)[0, 0].numpy()
    return {"pooled": pooled[0, 0].numpy(), "nearest neighbour": nearest, "bed of nails": bed_of_nails,
            "max unpooling": max_unpooled}


# --- atrous (dilated) convolution --------------------------------------------------------------

def atrous_offsets(dilation: int, kernel_size: int = 3) -> np.ndarray:
    """``(k², 2)`` tap offsets ``(dy, dx)`` from the centre, in feature-map cells."""
    if dilation < 1 or kernel_size < 1:
        raise ValueError("dilation and kernel size must be at least 1")
    half = (kernel_size - 1) / 2
    steps = (np.arange(kernel_size) - half) * dilation
    dy, dx = np.meshgrid(steps, steps, indexing="ij")
    return np.stack([dy.ravel(), dx.ravel()], axis=1)


def atrous_extent(dilation: int, kernel_size: int = 3) -> int:
    """Side of the square one dilated kernel spans: ``d·(k - 1) + 1`` cells, with only ``k²`` weights."""
    return dilation * (kernel_size - 1) + 1


def atrous_grid(dilation: int, kernel_size: int = 3, grid: int | None = None) -> np.ndarray:
    """A ``grid``×``grid`` 0/1 map with the taps of one dilated kernel centred on it."""
    extent = atrous_extent(dilation, kernel_size)
    grid = grid or extent + 2
    canvas = np.zeros((grid, grid), dtype=np.uint8)
    centre = (grid - 1) / 2
    for dy, dx in atrous_offsets(dilation, kernel_size):
        y, x = int(round(centre + dy)), int(round(centre + dx))
        if 0 <= y < grid and 0 <= x < grid:
            canvas[y, x] = 1
    return canvas


RATE_COLOURS = {1: (255, 255, 255), 6: (0, 200, 255), 12: (255, 170, 0), 18: (255, 60, 140)}
_EXTRA_COLOURS = [(120, 255, 120), (200, 120, 255), (255, 255, 0)]


def rate_colour(rate: int, index: int = 0) -> tuple[int, int, int]:
    return RATE_COLOURS.get(int(rate), _EXTRA_COLOURS[index % len(_EXTRA_COLOURS)])


def draw_atrous_footprints(image: np.ndarray, centre: tuple[float, float], rates: Iterable[int],
                           cell_pixels: float, kernel_size: int = 3) -> np.ndarray:
    """Draw each rate's 3×3 taps and the square they span on ``image`` (RGB uint8, a copy).

    ``cell_pixels`` is how many image pixels one feature-map cell covers (the backbone's output
    stride times the image-to-network scale), so a rate-18 kernel on a stride-16 map reaches
    18·16 = 288 network pixels from its centre. ``centre`` is ``(x, y)`` in image pixels.
    """
    import cv2

    canvas = np.ascontiguousarray(image.copy())
    cx, cy = float(centre[0]), float(centre[1])
    thickness = max(1, int(round(min(image.shape[:2]) / 300)))
    for index, rate in enumerate(sorted(set(int(r) for r in rates), reverse=True)):
        colour = rate_colour(rate, index)
        offsets = atrous_offsets(rate, kernel_size) * cell_pixels
        half_extent = (kernel_size - 1) / 2 * rate * cell_pixels + cell_pixels / 2
        cv2.rectangle(canvas, (int(round(cx - half_extent)), int(round(cy - half_extent))),
                      (int(round(cx + half_extent)), int(round(cy + half_extent))), colour, thickness, cv2.LINE_AA)
        half_cell = max(cell_pixels / 2, 2.0)
        for dy, dx in offsets:
            x, y = cx + dx, cy + dy
            cv2.rectangle(canvas, (int(round(x - half_cell)), int(round(y - half_cell))),
                          (int(round(x + half_cell)), int(round(y + half_cell))), colour, -1)
            cv2.rectangle(canvas, (int(round(x - half_cell)), int(round(y - half_cell))),
                          (int(round(x + half_cell)), int(round(y + half_cell))), (0, 0, 0), 1)
    return canvas
