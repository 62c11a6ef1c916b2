"""Face verification end to end: faces in a photo → boxes, landmarks, aligned chips, descriptors.

A Siamese setup at inference time: the *same* network embeds both faces and only the distance
between the two descriptors decides. Everything the page and the command line show comes from
here; nothing imports Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from cvdemo.faces import align
from cvdemo.faces.embedder import DEFAULT_THRESHOLD, FaceEmbedder, build_embedder, distance
from cvdemo.faces.mtcnn import MTCNN, build_mtcnn
from cvdemo.faces.shape_predictor import ShapePredictor, shared_shape_predictor

# Below this box width (pixels) a face gives an unreliable descriptor: the 150-px chip is an
# upsampled blur and the landmarks are off by a larger fraction of the face.
TINY_FACE_PX = 48
# MTCNN's final (O-Net) probability a face must reach. The cascade's own 0.7 lets textures
# through (a jacket fold in obama.jpg scores 0.84). Most real faces in the shared photos score
# ≥ 0.99, but a small, blurred child's face in obama_and_biden.jpg scores 0.93, between two blurred
# patches beside it (0.92, 0.93; facenet-pytorch's MTCNN gives the same): no cut separates them.
MIN_SCORE = 0.9
# P-Net's pyramid starts where a face of this many pixels fills its 12-px window; searching a
# 12-MP photo for 20-px faces would take seconds for faces too small to verify anyway.
MIN_FACE_PX = 20
MIN_FACE_FRACTION = 0.03  # …and at least this fraction of the image's short side

Progress = Callable[[float, str], None]


class FaceError(ValueError):
    """A problem with the photo the user can act on; the message says what to do."""


class NoFaceError(FaceError):
    pass


@dataclass
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    score: float
    landmarks: np.ndarray  # (5, 2) MTCNN points: left eye, right eye, nose, left/right mouth corner
    details: align.ChipDetails  # where the chip was cut (rotated rectangle in the image)
    chip: np.ndarray  # (150, 150, 3) uint8, aligned like dlib's chips
    descriptor: np.ndarray  # (128,) float32
    index: int = 0  # position in the left-to-right order of its photo
    alignment: Alignment | None = None  # how the chip was placed (dlib's landmarks or MTCNN's)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def tiny(self) -> bool:
        return self.width < TINY_FACE_PX

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))

    def label(self) -> str:
        return f"face {self.index + 1} ({self.width:.0f} px wide)"

    def to_record(self) -> dict:
        record = {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
        }
        if self.alignment is not None:
            record["alignment"] = self.alignment.method
            if self.alignment.dlib_landmarks is not None and self.alignment.method.startswith("dlib"):
                record["dlib_landmarks"] = [[int(x), int(y)] for x, y in self.alignment.dlib_landmarks]
        record["descriptor"] = [float(v) for v in self.descriptor]
        return record


@dataclass
class Alignment:
    """How a face's chip was placed."""

    method: str  # "dlib 5-point landmarks" or "MTCNN template"
    details: align.ChipDetails
    dlib_box: tuple[int, int, int, int] | None = None  # where dlib's detector would have boxed the face
    dlib_landmarks: np.ndarray | None = None  # (5, 2) eye corners and nose base, when predicted
    consistency_px: float | None = None  # disagreement between MTCNN's and dlib's points (chip px)
    note: str = ""


@dataclass
class Verdict:
    distance: float
    threshold: float

    @property
    def same(self) -> bool:
        return self.distance < self.threshold

    @property
    def margin(self) -> float:
        """How far from the threshold: small margins are the uncertain cases."""
        return abs(self.threshold - self.distance)

    def sentence(self) -> str:
        if self.same:
            return f"Same person: distance {self.distance:.3f} < threshold {self.threshold:.2f}"
        return f"Different people: distance {self.distance:.3f} ≥ threshold {self.threshold:.2f}"


def compare(a: Face | np.ndarray, b: Face | np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> Verdict:
    da = a.descriptor if isinstance(a, Face) else a
    db = b.descriptor if isinstance(b, Face) else b
    return Verdict(float(distance(da, db)), float(threshold))


def largest(faces: list[Face]) -> Face:
    if not faces:
        raise NoFaceError("no face found")
    return max(faces, key=lambda f: f.area)


@dataclass
class FacePipeline:
    """MTCNN → dlib-style alignment → dlib ResNet descriptor, for every face in a photo."""

    detector: MTCNN
    embedder: FaceEmbedder
    min_score: float = MIN_SCORE
    min_face_px: float = MIN_FACE_PX
    min_face_fraction: float = MIN_FACE_FRACTION
    # dlib's 5-point shape predictor; None: align with the MTCNN template alone.
    landmarker: ShapePredictor | None = None
    # Where MTCNN's 5 points go in the 150-px chip; None: the calibrated align.MTCNN_TEMPLATE_150.
    template: np.ndarray | None = None

    @property
    def device(self) -> torch.device:
        return self.embedder.device

    def min_face_size(self, image: np.ndarray) -> float:
        return max(self.min_face_px, self.min_face_fraction * min(image.shape[:2]))

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes, scores and MTCNN landmarks, left to right."""
        result = self.detector.run(image, min_face_size=self.min_face_size(image))
        keep = result.scores >= self.min_score
        boxes, scores, landmarks = result.boxes[keep], result.scores[keep], result.landmarks[keep]
        order = np.argsort(boxes[:, 0], kind="stable")
        return boxes[order], scores[order], landmarks[order]

    def faces(self, image: np.ndarray, progress: Progress | None = None) -> list[Face]:
        """Every face found, left to right, with chip and descriptor (possibly empty)."""
        report = progress or (lambda fraction, text: None)
        report(0.0, "Finding faces (MTCNN cascade)…")
        boxes, scores, landmarks = self.detect(image)
        report(0.5, f"Aligning {len(boxes)} face(s)…")
        alignments = [self.align_face(image, points) for points in landmarks]
        chips = [align.extract_chip(image, a.details) for a in alignments]
        report(0.7, "Computing descriptors (dlib ResNet)…")
        descriptors = self.embedder.embed(np.stack(chips)) if chips else np.zeros((0, 128), np.float32)
        report(1.0, "Done")
        return [Face(boxes[i], float(scores[i]), landmarks[i], alignments[i].details, chips[i], descriptors[i], i, alignments[i])
                for i in range(len(chips))]

    def align_face(self, image: np.ndarray, mtcnn_points: np.ndarray) -> Alignment:
        """Place the chip as dlib would: its landmarks from its own predictor when they agree
        with MTCNN's, else MTCNN's points on the calibrated template."""
        template = align.mtcnn_template() if self.template is None else self.template
        fallback = align.chip_details(mtcnn_points, template)
        if self.landmarker is None:
            return Alignment("MTCNN template", fallback, note="dlib's shape predictor is not installed")
        box = align.dlib_box_from_mtcnn(mtcnn_points)
        points = self.landmarker(image, box)
        disagreement = align.consistency_px(mtcnn_points, points)
        if disagreement > align.CONSISTENCY_LIMIT_PX:
            return Alignment("MTCNN template", fallback, box, points, disagreement,
                             f"dlib's landmarks disagree with MTCNN's by {disagreement:.0f} px (a partly hidden face?)")
        return Alignment("dlib 5-point landmarks", align.dlib_chip_details(points), box, points, disagreement)

    def require_faces(self, image: np.ndarray, name: str = "the photo", progress: Progress | None = None) -> list[Face]:
        """Like :meth:`faces`, but no face is an error with advice."""
        found = self.faces(image, progress)
        if not found:
            raise NoFaceError(no_face_message(name, self.min_face_size(image)))
        return found

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        return self.embedder.embed(chips)


def no_face_message(name: str, min_face: float) -> str:
    return (f"No face found in {name}. The detector looks for faces at least {min_face:.0f} pixels wide, roughly "
            "frontal and not covered; try a closer, well-lit photo or crop the picture around the face.")


def face_notes(faces: list[Face], name: str) -> list[str]:
    """User-facing remarks about a photo's faces: several found, some tiny."""
    notes = []
    if len(faces) > 1:
        big = largest(faces)
        notes.append(f"{len(faces)} faces found in {name}; using the largest, {big.label()}. Pick another if you meant someone else.")
    for face in faces:
        if face.tiny:
            notes.append(f"{face.label().capitalize()} in {name} is tiny (under {TINY_FACE_PX} px): its chip is an upscaled "
                         "blur and its distance is unreliable. Use a closer or larger photo.")
    return notes


def build_pipeline(device: torch.device | None = None, detector: MTCNN | None = None,
                   embedder: FaceEmbedder | None = None) -> FacePipeline:
    from cvdemo.device import pick_device

    device = device or pick_device()
    return FacePipeline(detector or build_mtcnn(device), embedder or build_embedder(device), landmarker=shared_shape_predictor())


def distance_matrix(descriptors: np.ndarray) -> np.ndarray:
    descriptors = np.asarray(descriptors, dtype=np.float64)
    return distance(descriptors[:, None, :], descriptors[None, :, :])
