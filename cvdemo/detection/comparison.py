"""Which detector is most accurate here: every ready detector scored on the same labelled photos.

The photos are ones installed packages ship (scikit-image's data, matplotlib's sample data), so
the comparison runs offline and anyone can repeat it. The labels are a COCO file; each image
names its ``package``. Photos without annotations hold no COCO object: any box there is false.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvdemo.detection.groundtruth import parse_coco
from cvdemo.detection.metrics import ImageTruth, evaluate, match_image
from cvdemo.detection.pipeline import DETECTION_FLOOR, visible
from cvdemo.images import load_image

PAGE_THRESHOLD = 0.3  # the detection page's default score slider: what a student sees first


def _package_file(package: str, file_name: str) -> Path:
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data" / file_name
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data" / file_name
    raise ValueError(f"no photos known from package {package!r}")


@dataclass
class LabelledPhotos:
    truth: dict[str, ImageTruth]
    images: dict[str, np.ndarray]

    @property
    def empty(self) -> list[str]:
        """Photos with no COCO object."""
        return [name for name, truth in self.truth.items() if len(truth) == 0]


def load_labelled_photos(labels: Path) -> LabelledPhotos:
    text = Path(labels).read_text()
    truth = parse_coco(text, source=str(labels)).images
    packages = {image["file_name"]: image["package"] for image in json.loads(text)["images"]}
    images = {name: load_image(_package_file(packages[name], name), name=name) for name in truth}
    return LabelledPhotos(truth, images)


def main_objects_found(truth: ImageTruth, shown, iou: float = 0.5) -> list[str]:
    """Classes of the counted (not crowd) labels some shown box of the same class overlaps by ``iou``."""
    found = match_image(truth, shown, iou).truth_found
    assert truth.crowd is not None and truth.difficult is not None  # ImageTruth.__post_init__ fills both
    counted = ~(truth.crowd | truth.difficult)
    return [label for label, hit, counts in zip(truth.labels, found, counted) if hit and counts]


@dataclass
class DetectorScore:
    model: str
    map50: float  # COCO mAP@0.5 over the labelled classes, every box down to DETECTION_FLOOR
    map: float  # COCO mAP@[.5:.95]
    classes_found: list[str]  # labelled classes found at IoU ≥ 0.5 among the boxes the page shows
    false_boxes_on_empty: int  # boxes the page shows on photos with no COCO object
    median_ms: float  # detect() per photo, warm

    def row(self) -> dict:
        return {"model": self.model, "mAP@.5": round(self.map50, 3), "mAP@[.5:.95]": round(self.map, 3),
                "classes found": ", ".join(sorted(set(self.classes_found))),
                "boxes on empty photos": self.false_boxes_on_empty, "median ms": round(self.median_ms, 1)}


def score_detector(name: str, detector, photos: LabelledPhotos, threshold: float = PAGE_THRESHOLD) -> DetectorScore:
    detector.detect(next(iter(photos.images.values())), score_threshold=DETECTION_FLOOR)  # warm-up
    predictions, timings = {}, []
    for image_name, image in photos.images.items():
        started = time.perf_counter()
        predictions[image_name] = detector.detect(image, score_threshold=DETECTION_FLOOR)
        timings.append((time.perf_counter() - started) * 1000.0)
    labelled = {n: t for n, t in photos.truth.items() if len(t)}
    result = evaluate(labelled, {n: predictions[n] for n in labelled})
    found = [label for n, t in labelled.items() for label in main_objects_found(t, visible(predictions[n], threshold))]
    false_boxes = sum(len(visible(predictions[n], threshold)) for n in photos.empty)
    return DetectorScore(name, result.map50, result.map, found, false_boxes, statistics.median(timings))


def most_accurate(scores: list[DetectorScore]) -> DetectorScore:
    """COCO's headline measure, mAP@[.5:.95], first; then mAP@.5 and fewer false boxes on empty photos."""
    return max(scores, key=lambda s: (round(s.map, 3), round(s.map50, 3), -s.false_boxes_on_empty))
