"""The reference data real dlib produced (``shared/facedata``), for tests, calibration and benchmarks.

Only development and CI machines have ``../shared/facedata`` beside the repository; end users do
not, and nothing in the app depends on it. :func:`facedata_dir` returns None when it is absent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cvdemo import PROJECT_ROOT


def facedata_dir() -> Path | None:
    candidates = [os.environ.get("CVDEMO_FACEDATA"), PROJECT_ROOT.parent / "shared" / "facedata"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "golden.json").is_file():
            return Path(candidate)
    return None


@dataclass(frozen=True)
class GoldenFace:
    chip: str  # e.g. "obama_face0.png"
    source_image: str
    box_ltrb: tuple[int, int, int, int]  # dlib's HOG box, inclusive corners
    landmarks5: np.ndarray  # dlib's 5 points (eye corners, nose base)
    descriptor: np.ndarray  # dlib's 128-D descriptor of the golden chip
    identity: str | None

    @property
    def name(self) -> str:
        return self.chip.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Golden:
    root: Path
    faces: tuple[GoldenFace, ...]
    distances: np.ndarray  # (13, 13) dlib's distance matrix, in ``order``
    order: tuple[str, ...]
    same_pairs: tuple[tuple[str, str, float], ...]
    different_pairs: tuple[tuple[str, str, float], ...]
    raw: dict

    def face(self, chip: str) -> GoldenFace:
        return next(f for f in self.faces if f.chip == chip)

    def distance(self, a: str, b: str) -> float:
        return float(self.distances[self.order.index(a), self.order.index(b)])

    def images(self) -> list[str]:
        return sorted({f.source_image for f in self.faces})

    def image_path(self, name: str) -> Path:
        return self.root / "images" / name

    def chip_path(self, chip: str) -> Path:
        return self.root / "chips" / chip


@lru_cache(maxsize=2)
def load(root: str | Path | None = None) -> Golden:
    root = Path(root) if root else facedata_dir()
    if root is None:
        raise FileNotFoundError("shared/facedata (golden.json) is not beside the repository; set CVDEMO_FACEDATA")
    raw = json.loads((root / "golden.json").read_text())
    faces = tuple(
        GoldenFace(c["chip"], c["source_image"], tuple(c["face_box_ltrb"]), np.asarray(c["landmarks5"], dtype=np.float64),
                   np.asarray(c["descriptor"], dtype=np.float32), c.get("identity"))
        for c in raw["chips"]
    )
    matrix = raw["distance_matrix"]
    return Golden(root, faces, np.asarray(matrix["values"], dtype=np.float64), tuple(matrix["order"]),
                  tuple(tuple(p) for p in raw["same_identity_pairs"]), tuple(tuple(p) for p in raw["different_identity_pairs"]), raw)


def match_faces(boxes: np.ndarray, golden_faces: list[GoldenFace], max_offset: float = 0.5) -> dict[str, int]:
    """Pair detected boxes with dlib's boxes of the same photo: nearest centre, within
    ``max_offset`` × dlib's box width, each detection used once."""
    pairs = []
    for face in golden_faces:
        l, t, r, b = face.box_ltrb
        cx, cy, width = (l + r) / 2, (t + b) / 2, r - l + 1
        for i, box in enumerate(np.asarray(boxes)):
            offset = np.hypot((box[0] + box[2]) / 2 - cx, (box[1] + box[3]) / 2 - cy) / width
            if offset <= max_offset:
                pairs.append((offset, face.chip, i))
    matched: dict[str, int] = {}
    used: set[int] = set()
    for _offset, chip, i in sorted(pairs):
        if chip not in matched and i not in used:
            matched[chip] = i
            used.add(i)
    return matched
