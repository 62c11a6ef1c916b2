"""How close the dlib-free pipeline comes to real dlib on the shared photos.

Used by the tests (verdicts must equal dlib's, distances within 0.1), by the calibration of
:data:`cvdemo.faces.align.MTCNN_TEMPLATE_150`, and by the benchmark's accuracy line.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cvdemo.faces import align
from cvdemo.faces.golden import Golden, match_faces
from cvdemo.faces.verify import FacePipeline
from cvdemo.images import load_image


@dataclass
class GoldenRun:
    """Our detections on the shared photos, paired with dlib's faces."""

    landmarks: dict[str, np.ndarray]  # golden chip name → MTCNN's 5 points
    boxes: dict[str, np.ndarray]
    unmatched: list[str]  # golden faces MTCNN did not find
    extra: dict[str, int]  # photo → detections without a dlib counterpart


def detect_golden(pipeline: FacePipeline, golden: Golden) -> GoldenRun:
    landmarks, boxes, unmatched, extra = {}, {}, [], {}
    for image_name in golden.images():
        image = load_image(golden.image_path(image_name))
        found_boxes, _, found_points = pipeline.detect(image)
        faces = [f for f in golden.faces if f.source_image == image_name]
        matched = match_faces(found_boxes, faces)
        for face in faces:
            if face.chip in matched:
                landmarks[face.chip] = found_points[matched[face.chip]]
                boxes[face.chip] = found_boxes[matched[face.chip]]
            else:
                unmatched.append(face.chip)
        if len(found_boxes) > len(matched):
            extra[image_name] = len(found_boxes) - len(matched)
    return GoldenRun(landmarks, boxes, unmatched, extra)


def calibrate(run: GoldenRun, golden: Golden, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """MTCNN's mean point positions in dlib's chip frame (the template :mod:`align` uses)."""
    chips = [c for c in run.landmarks if c not in exclude and golden.face(c).identity is not None]
    return align.calibrate_template([golden.face(c).landmarks5 for c in chips], [run.landmarks[c] for c in chips])


def calibrate_box(run: GoldenRun, golden: Golden, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """dlib's detector box in the MTCNN-template frame (align.DLIB_BOX_IN_MTCNN_FRAME)."""
    chips = [c for c in run.landmarks if c not in exclude and golden.face(c).identity is not None]
    return align.calibrate_box([run.landmarks[c] for c in chips], [golden.face(c).box_ltrb for c in chips])


def alignments(pipeline: FacePipeline, golden: Golden, run: GoldenRun) -> dict:
    images = {name: load_image(golden.image_path(name)) for name in golden.images()}
    return {c: pipeline.align_face(images[golden.face(c).source_image], points) for c, points in run.landmarks.items()}


def descriptors(pipeline: FacePipeline, golden: Golden, run: GoldenRun, template: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Our descriptor of every matched face, cut by the pipeline's own alignment (or, with
    ``template``, by that MTCNN template alone)."""
    images = {name: load_image(golden.image_path(name)) for name in golden.images()}
    if template is None:
        placed = {c: a.details for c, a in alignments(pipeline, golden, run).items()}
    else:
        placed = {c: align.chip_details(points, template) for c, points in run.landmarks.items()}
    chips = {c: align.extract_chip(images[golden.face(c).source_image], d) for c, d in placed.items()}
    names = sorted(chips)
    values = pipeline.embed_chips(np.stack([chips[c] for c in names]))
    return dict(zip(names, values))


@dataclass
class PairReport:
    a: str
    b: str
    ours: float
    dlib: float
    same_identity: bool | None  # None: not one of golden's labelled pairs

    @property
    def deviation(self) -> float:
        return abs(self.ours - self.dlib)

    @property
    def agrees(self) -> bool:
        return (self.ours < 0.6) == (self.dlib < 0.6)


def compare_with_dlib(ours: dict[str, np.ndarray], golden: Golden) -> list[PairReport]:
    labelled = {frozenset((a, b)): True for a, b, _ in golden.same_pairs}
    labelled.update({frozenset((a, b)): False for a, b, _ in golden.different_pairs})
    reports = []
    for a, b in itertools.combinations(sorted(ours), 2):
        d = float(np.linalg.norm(ours[a].astype(np.float64) - ours[b]))
        reports.append(PairReport(a, b, d, golden.distance(a, b), labelled.get(frozenset((a, b)))))
    return sorted(reports, key=lambda r: -r.deviation)
