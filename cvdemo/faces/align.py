"""Cut aligned 150×150 face chips the way dlib does, from dlib-style or MTCNN landmarks.

dlib's ``get_face_chip(img, shape, size=150, padding=0.25)``:

1. fits a similarity transform (Umeyama least squares: rotation, uniform scale, translation)
   from 5 template points in the chip to the 5 landmarks in the image;
2. turns it into a rotated rectangle in the image (:class:`ChipDetails`);
3. when that rectangle is much larger than the chip, builds a 2× image pyramid
   (``pyramid_down<2>``: a [1 4 6 4 1]² integer filter, keep every other pixel) over the face's
   neighbourhood and samples from the deepest level that still has more pixels than the chip,
   so down-sampling never degenerates into nearest-neighbour;
4. samples every chip pixel bilinearly (truncating to uint8, black outside the image).

:func:`extract_chip` re-implements those steps (written from reading dlib 20's
``interpolation.h`` / ``image_pyramid.h``, not copied), so dlib's own landmarks give dlib's
own chips (checked against the golden chips in the tests).

MTCNN's five points are different anatomy (eye *centres*, nose *tip*, mouth corners) from
dlib's (eye *corners*, nose *base*). Two ways bridge that, both calibrated on the 12 real faces
of the shared photos (golden dlib landmarks and boxes + our MTCNN on the same photos; the tests
recompute the constants):

* :data:`MTCNN_TEMPLATE_150` gives where MTCNN's points land, on average, inside a dlib chip;
  fitting the similarity from MTCNN's points to those positions cuts nearly dlib's chip.
* Closer still: :func:`dlib_box_from_mtcnn` places dlib's face box from MTCNN's points
  (:data:`DLIB_BOX_IN_MTCNN_FRAME`), dlib's own 5-point shape predictor
  (:mod:`cvdemo.faces.shape_predictor`) finds dlib's landmarks in it, and the chip is cut from
  those exactly as dlib does. :func:`consistency_px` guards against the predictor losing a face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CHIP_SIZE = 150
PADDING = 0.25

# dlib's 5-point template in unit face coordinates, in the predictor's part order:
# 0 outer / 1 inner corner of the eye on the image's right, 2 outer / 3 inner corner of the eye
# on the image's left, 4 base of the nose (dlib 20, get_face_chip_details).
DLIB_TEMPLATE_UNIT = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])

# Where MTCNN's points (image-left eye centre, image-right eye centre, nose tip, image-left mouth
# corner, image-right mouth corner) fall in a dlib chip of 150 px with padding 0.25: the mean
# over the 12 real faces of the shared photos, each mapped into its golden chip with dlib's own
# transform (see calibrate_template and tests/test_faces_align.py, which recomputes it).
MTCNN_TEMPLATE_150 = np.array([
    [47.580, 44.292],
    [102.080, 44.084],
    [70.768, 78.936],
    [49.293, 103.394],
    [100.897, 102.965],
])
# dlib's face box (its HOG detector's) in the same chip frame: centre x, centre y, width, height,
# averaged over the same 12 faces. It places dlib's 5-point shape predictor on an MTCNN face
# the way dlib's own detector would have (see dlib_box_from_mtcnn).
DLIB_BOX_IN_MTCNN_FRAME = np.array([73.536, 73.967, 131.738, 131.468])
# Above this disagreement (chip pixels) between MTCNN's points and the shape predictor's, the
# predictor is taken to have lost the face (it happens on faces cut by the picture's edge) and
# the MTCNN template aligns instead. On the shared photos good faces stay under 7 px; the
# half-visible face at the edge of obama_and_biden.jpg reaches 31.
CONSISTENCY_LIMIT_PX = 12.0
MTCNN_POINT_NAMES = ("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner")
DLIB_POINT_NAMES = ("right eye, outer corner", "right eye, inner corner", "left eye, outer corner",
                    "left eye, inner corner", "base of the nose")


def dlib_template(size: int = CHIP_SIZE, padding: float = PADDING) -> np.ndarray:
    """dlib's chip points for ``size`` and ``padding`` (padding widens the view around the face)."""
    return (padding + DLIB_TEMPLATE_UNIT) / (2 * padding + 1) * size


def mtcnn_template(size: int = CHIP_SIZE, padding: float = PADDING) -> np.ndarray:
    """:data:`MTCNN_TEMPLATE_150` carried to another chip size/padding (the same face geometry)."""
    unit = MTCNN_TEMPLATE_150 / CHIP_SIZE * (2 * PADDING + 1) - PADDING
    return (padding + unit) / (2 * padding + 1) * size


# --------------------------------------------------------------------------------------------
# Geometry


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping ``src`` points onto ``dst``: a 2×3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two equal lists of ≥2 points, got {src.shape} and {dst.shape}")
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    a, b = src - mean_src, dst - mean_dst
    var_src = (a ** 2).sum(1).mean()
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    det = np.linalg.det(cov)
    if det < 0 or (det == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1, 1] = -1  # no reflections: the singular values come sorted, so flip the smaller
    rotation = u @ s @ vt
    scale = np.trace(np.diag(d) @ s) / var_src if var_src else 1.0
    translation = mean_dst - scale * rotation @ mean_src
    return np.hstack([scale * rotation, translation[:, None]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def affine_from_3(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The affine map taking 3 points exactly onto 3 others (2×3)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    design = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(design, dst).T


def invert(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _rotate(center: np.ndarray, point: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    x, y = point[0] - center[0], point[1] - center[1]
    return np.array([c * x - s * y + center[0], s * x + c * y + center[1]])


def _lround(value: float) -> int:
    """C's lround: halves away from zero (Python's round() would go to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


# Rectangles are (left, top, right, bottom) with inclusive corners, dlib's convention: width is
# right − left + 1, also for the fractional rectangles.


def _area(rect) -> float:
    l, t, r, b = rect
    if l > r or t > b:
        return 0.0
    return (r - l + 1) * (b - t + 1)


def _rect_down(rect) -> tuple:
    # pyramid_down<2>'s coordinate map from one level to the next
    l, t, r, b = rect
    return (l / 2 - 1.25, t / 2 - 0.75, r / 2 - 1.25, b / 2 - 0.75)


def _center(rect) -> np.ndarray:
    l, t, r, b = rect
    return np.array([(l + r) / 2.0, (t + b) / 2.0])


@dataclass(frozen=True)
class ChipDetails:
    """A rotated rectangle in the image that becomes a ``rows × cols`` chip (dlib's chip_details)."""

    rect: tuple[float, float, float, float]
    angle: float  # radians
    rows: int
    cols: int

    @property
    def corners(self) -> np.ndarray:
        """The chip's outline in image pixels (tl, tr, br, bl), for drawing."""
        l, t, r, b = self.rect
        c = _center(self.rect)
        return np.array([_rotate(c, np.array(p), self.angle) for p in ((l, t), (r, t), (r, b), (l, b))])

    def image_to_chip(self) -> np.ndarray:
        """2×3 map from image pixels to chip pixels (to draw landmarks on the chip)."""
        l, t, r, b = self.rect
        c = _center(self.rect)
        src = np.array([_rotate(c, np.array(p), self.angle) for p in ((l, t), (r, t), (r, b))])
        dst = np.array([[0, 0], [self.cols - 1, 0], [self.cols - 1, self.rows - 1]], dtype=np.float64)
        return affine_from_3(src, dst)

    @property
    def scale(self) -> float:
        """Image pixels per chip pixel."""
        return (self.rect[2] - self.rect[0] + 1) / self.cols


def chip_details(image_points: np.ndarray, chip_points: np.ndarray, size: int = CHIP_SIZE) -> ChipDetails:
    """The rotated rectangle that carries ``chip_points`` (in the chip) onto ``image_points``."""
    tform = similarity_transform(chip_points, image_points)
    p = tform[:, :2] @ np.array([1.0, 0.0])
    angle = math.atan2(p[1], p[0])
    scale = math.hypot(p[0], p[1])
    center = apply(tform, np.array([[size / 2.0, size / 2.0]]))[0]
    half = (size * scale - 1) / 2.0  # dlib's centered_drect: width − 1 between the corners
    rect = (center[0] - half, center[1] - half, center[0] + half, center[1] + half)
    return ChipDetails(rect, angle, size, size)


def dlib_chip_details(landmarks5: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING) -> ChipDetails:
    """From dlib's 5 landmarks (its part order), as ``get_face_chip_details`` does."""
    return chip_details(np.asarray(landmarks5, dtype=np.float64), dlib_template(size, padding), size)


def mtcnn_chip_details(landmarks5: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING) -> ChipDetails:
    """From MTCNN's 5 landmarks, mapped onto where they sit in a dlib chip."""
    return chip_details(np.asarray(landmarks5, dtype=np.float64), mtcnn_template(size, padding), size)


# --------------------------------------------------------------------------------------------
# Sampling


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's ``pyramid_down<2>`` on uint8 RGB: 5×5 binomial filter, stride 2.

    Integer arithmetic like dlib (row sums, then column sums, then a truncating ÷256); output is
    ``(H − 3) // 2 × (W − 3) // 2``; pixel (r, c) is centred on input (2r + 2, 2c + 2).
    """
    h, w = image.shape[:2]
    if h <= 8 or w <= 8:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    out_h, out_w = (h - 3) // 2, (w - 3) // 2
    src = image.astype(np.int32)
    taps = (1, 4, 6, 4, 1)
    rows = np.sum([k * src[:, j:j + 2 * out_w:2] for j, k in enumerate(taps)], axis=0)
    cols = np.sum([k * rows[j:j + 2 * out_h:2] for j, k in enumerate(taps)], axis=0)
    return (cols // 256).astype(np.uint8)


def _bilinear(source: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """dlib's interpolate_bilinear: black unless all 4 neighbours are inside, then truncation."""
    h, w = source.shape[:2]
    left = np.floor(xs).astype(np.int64)
    top = np.floor(ys).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < w) & (top + 1 < h)
    lc = np.clip(left, 0, max(w - 2, 0))
    tc = np.clip(top, 0, max(h - 2, 0))
    lr = (xs - left)[..., None]
    tb = (ys - top)[..., None]
    src = source.astype(np.float64)
    tl = src[tc, lc]
    tr = src[tc, np.minimum(lc + 1, w - 1)]
    bl = src[np.minimum(tc + 1, h - 1), lc]
    br = src[np.minimum(tc + 1, h - 1), np.minimum(lc + 1, w - 1)]
    value = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    value = np.clip(value, 0, 255).astype(np.uint8)  # truncation, as dlib's assign_pixel
    value[~inside] = 0
    return value


def extract_chip(image: np.ndarray, details: ChipDetails) -> np.ndarray:
    """Sample the chip from an H×W×3 uint8 image through dlib's pyramid (one face per call)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    size = details.rows * details.cols

    # How deep a pyramid, and how much border it needs so the crop has no edge effects.
    depth, grow = 0, 2.0
    rect = _rect_down(details.rect)
    while _area(rect) > size:
        rect = _rect_down(rect)
        depth += 1
        grow = grow * 2 + 2
    corners = details.corners
    grown = (corners[:, 0].min() - grow, corners[:, 1].min() - grow, corners[:, 0].max() + grow, corners[:, 1].max() + grow)
    clipped = (max(grown[0], 0), max(grown[1], 0), min(grown[2], w - 1), min(grown[3], h - 1))
    box = (_lround(clipped[0]), _lround(clipped[1]), _lround(clipped[2]), _lround(clipped[3]))
    if box[0] > box[2] or box[1] > box[3]:
        return np.zeros((details.rows, details.cols, 3), dtype=np.uint8)  # entirely off the image
    source = image[box[1]:box[3] + 1, box[0]:box[2] + 1]
    levels = []
    for _ in range(depth):
        source = pyramid_down(source)
        levels.append(source)
        if source.size == 0:
            break

    level = -1
    rect = (details.rect[0] - box[0], details.rect[1] - box[1], details.rect[2] - box[0], details.rect[3] - box[1])
    while _area(_rect_down(rect)) > size:
        level += 1
        rect = _rect_down(rect)
    sample_from = image[box[1]:box[3] + 1, box[0]:box[2] + 1] if level < 0 else levels[min(level, len(levels) - 1)]

    l, t, r, b = rect
    c = _center(rect)
    dst = np.array([_rotate(c, np.array(p), details.angle) for p in ((l, t), (r, t), (l, b))])
    src = np.array([[0, 0], [details.cols - 1, 0], [0, details.rows - 1]], dtype=np.float64)
    chip_to_source = affine_from_3(src, dst)
    ys, xs = np.mgrid[0:details.rows, 0:details.cols].astype(np.float64)
    sx = chip_to_source[0, 0] * xs + chip_to_source[0, 1] * ys + chip_to_source[0, 2]
    sy = chip_to_source[1, 0] * xs + chip_to_source[1, 1] * ys + chip_to_source[1, 2]
    return _bilinear(sample_from, sx, sy)


def dlib_chip(image: np.ndarray, landmarks5: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING) -> np.ndarray:
    """``dlib.get_face_chip(image, shape, size, padding)`` for dlib's 5-point landmarks."""
    return extract_chip(image, dlib_chip_details(landmarks5, size, padding))


def dlib_box_from_mtcnn(mtcnn_points: np.ndarray, box_in_frame: np.ndarray = DLIB_BOX_IN_MTCNN_FRAME) -> tuple[int, int, int, int]:
    """Where dlib's face detector would put its (axis-aligned, inclusive) box for this face."""
    to_image = similarity_transform(mtcnn_template(), np.asarray(mtcnn_points, dtype=np.float64))
    scale = math.hypot(to_image[0, 0], to_image[1, 0])
    cx, cy = apply(to_image, box_in_frame[None, :2])[0]
    half_w, half_h = (box_in_frame[2] * scale - 1) / 2, (box_in_frame[3] * scale - 1) / 2
    return (_lround(cx - half_w), _lround(cy - half_h), _lround(cx + half_w), _lround(cy + half_h))


def consistency_px(mtcnn_points: np.ndarray, dlib_points: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING) -> float:
    """How far (chip pixels) dlib-style landmarks land from dlib's template when the chip is cut
    from MTCNN's points: small when both landmark sets describe the same face geometry."""
    to_chip = similarity_transform(np.asarray(mtcnn_points, dtype=np.float64), mtcnn_template(size, padding))
    return float(np.abs(apply(to_chip, np.asarray(dlib_points, dtype=np.float64)) - dlib_template(size, padding)).max())


def calibrate_box(mtcnn_landmarks: list[np.ndarray], dlib_boxes: list) -> np.ndarray:
    """Mean of dlib's boxes expressed in the MTCNN-template chip frame (DLIB_BOX_IN_MTCNN_FRAME)."""
    rows = []
    for points, (l, t, r, b) in zip(mtcnn_landmarks, dlib_boxes):
        to_chip = similarity_transform(np.asarray(points, dtype=np.float64), MTCNN_TEMPLATE_150)
        scale = math.hypot(to_chip[0, 0], to_chip[1, 0])
        cx, cy = apply(to_chip, np.array([[(l + r) / 2, (t + b) / 2]]))[0]
        rows.append([cx, cy, (r - l + 1) * scale, (b - t + 1) * scale])
    return np.mean(rows, axis=0)


def calibrate_template(dlib_landmarks: list[np.ndarray], mtcnn_landmarks: list[np.ndarray],
                       size: int = CHIP_SIZE, padding: float = PADDING) -> np.ndarray:
    """Mean position of MTCNN's points inside dlib's chips, over faces seen by both.

    Each face's MTCNN points are carried into its chip by the image→chip map dlib's own
    landmarks define, so the result is "MTCNN's anatomy in dlib's chip frame".
    """
    mapped = []
    for ours, theirs in zip(mtcnn_landmarks, dlib_landmarks):
        to_chip = dlib_chip_details(theirs, size, padding).image_to_chip()
        mapped.append(apply(to_chip, ours))
    return np.mean(mapped, axis=0)
