"""The user's own labels: COCO JSON and Pascal VOC XML uploads, matched to their images by name.

Every problem raises :class:`GroundTruthError` with a message that names the file and the entry,
because a student's hand-made annotation file is the usual suspect when mAP looks wrong.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Iterable, Literal, Sequence, overload

import numpy as np

from cvdemo.detection.metrics import ImageTruth

# Pascal VOC calls six of its twenty classes differently from COCO; the COCO-trained detectors
# can only be scored on VOC labels once these are translated.
VOC_TO_COCO = {
    "aeroplane": "airplane",
    "motorbike": "motorcycle",
    "sofa": "couch",
    "tvmonitor": "tv",
    "diningtable": "dining table",
    "pottedplant": "potted plant",
}


class GroundTruthError(ValueError):
    """The annotation file cannot be used; the message says where and why."""


@dataclass
class GroundTruth:
    images: dict[str, ImageTruth] = field(default_factory=dict)  # keyed by the file name in the annotations
    sources: dict[str, str] = field(default_factory=dict)  # image name -> annotation file it came from
    image_ids: dict[str, int] = field(default_factory=dict)  # COCO image ids, for result files
    category_ids: dict[str, int] = field(default_factory=dict)  # COCO category ids by name
    warnings: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted({label for image in self.images.values() for label in image.labels})

    def merge(self, other: "GroundTruth") -> None:
        for name, truth in other.images.items():
            if name in self.images:
                raise GroundTruthError(f"{name} is annotated twice: in {self.sources[name]} and in {other.sources[name]}")
            self.images[name] = truth
            self.sources[name] = other.sources[name]
        self.image_ids.update(other.image_ids)
        for name, cid in other.category_ids.items():
            self.category_ids.setdefault(name, cid)
        self.warnings.extend(other.warnings)


def _number(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GroundTruthError(f"{what} is {value!r}, not a number") from None
    if not np.isfinite(number):
        raise GroundTruthError(f"{what} is {value!r}")
    return number


def parse_coco(data: bytes | str, source: str = "annotations.json") -> GroundTruth:
    """COCO "instances" JSON: ``images``, ``annotations`` (bbox = x, y, width, height) and ``categories``."""
    try:
        doc = json.loads(data)
    except UnicodeDecodeError:
        raise GroundTruthError(f"{source} is not a text file") from None
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(doc, list):
        raise GroundTruthError(f"{source} is a list; that looks like a COCO *results* file (detections). "
                               "Ground truth needs the dataset format with 'images', 'annotations' and 'categories'.")
    if not isinstance(doc, dict):
        raise GroundTruthError(f"{source} must hold a JSON object with 'images', 'annotations' and 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise GroundTruthError(f"{source} has no '{key}' list (a COCO file needs 'images', 'annotations' and 'categories')")
    categories: dict[int, str] = {}
    for i, category in enumerate(doc["categories"]):
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise GroundTruthError(f"{source}: categories[{i}] needs an 'id' and a 'name'")
        categories[int(category["id"])] = str(category["name"]).strip()
    images: dict[int, dict] = {}
    for i, image in enumerate(doc["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise GroundTruthError(f"{source}: images[{i}] needs an 'id' and a 'file_name'")
        images[int(image["id"])] = image
    per_image: dict[int, tuple[list, list, list]] = {image_id: ([], [], []) for image_id in images}
    result = GroundTruth()
    skipped = 0
    for i, ann in enumerate(doc["annotations"]):
        where = f"{source}: annotations[{i}]"
        if not isinstance(ann, dict):
            raise GroundTruthError(f"{where} is not an object")
        for key in ("image_id", "category_id", "bbox"):
            if key not in ann:
                raise GroundTruthError(f"{where} has no '{key}'")
        image_id, category_id = int(ann["image_id"]), int(ann["category_id"])
        if image_id not in images:
            raise GroundTruthError(f"{where} refers to image_id {image_id}, which is not in 'images'")
        if category_id not in categories:
            raise GroundTruthError(f"{where} refers to category_id {category_id}, which is not in 'categories'")
        bbox = ann["bbox"]
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise GroundTruthError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}")
        x, y, w, h = (_number(v, f"{where} bbox") for v in bbox)
        if w < 0 or h < 0:
            raise GroundTruthError(f"{where}: bbox {bbox!r} has a negative width or height (COCO boxes are [x, y, width, height])")
        if w == 0 or h == 0:
            skipped += 1
            continue
        boxes, labels, crowd = per_image[image_id]
        boxes.append([x, y, x + w, y + h])
        labels.append(categories[category_id])
        crowd.append(bool(ann.get("iscrowd", 0)))
    if skipped:
        result.warnings.append(f"{source}: {skipped} annotation(s) with zero width or height were skipped")
    for image_id, image in images.items():
        boxes, labels, crowd = per_image[image_id]
        name = PurePath(str(image["file_name"]).replace("\\", "/")).name
        size = (int(image["height"]), int(image["width"])) if "height" in image and "width" in image else None
        if name in result.images:
            raise GroundTruthError(f"{source}: two images are called {name}")
        result.images[name] = ImageTruth(np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, crowd=np.array(crowd, bool), size=size)
        result.sources[name] = source
        result.image_ids[name] = image_id
    result.category_ids = {name: cid for cid, name in categories.items()}
    if not result.images:
        raise GroundTruthError(f"{source} lists no images")
    return result


@overload
def _child_text(element: ET.Element, tag: str, where: str, required: Literal[True] = True) -> str: ...
@overload
def _child_text(element: ET.Element, tag: str, where: str, required: Literal[False]) -> str | None: ...
def _child_text(element: ET.Element, tag: str, where: str, required: bool = True) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise GroundTruthError(f"{where} has no <{tag}>")
        return None
    return child.text.strip()


def parse_voc(data: bytes | str, source: str = "annotation.xml") -> GroundTruth:
    """One Pascal VOC XML file (one image).

    VOC pixel coordinates are 1-based and inclusive; like the VOC devkit's users (Detectron,
    torchvision references) we subtract 1 from xmin and ymin to get continuous x1, y1.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise GroundTruthError(f"{source} is not valid XML ({exc})") from None
    if root.tag != "annotation":
        raise GroundTruthError(f"{source}: the root element is <{root.tag}>; a Pascal VOC file starts with <annotation>")
    filename = _child_text(root, "filename", source, required=False)
    if filename is None:
        filename = PurePath(source).stem  # matched by stem against the images
    size = None
    size_el = root.find("size")
    if size_el is not None:
        width = _child_text(size_el, "width", f"{source} <size>", required=False)
        height = _child_text(size_el, "height", f"{source} <size>", required=False)
        if width and height:
            size = (int(_number(height, f"{source} <size><height>")), int(_number(width, f"{source} <size><width>")))
    boxes, labels, difficult = [], [], []
    for i, obj in enumerate(root.findall("object")):
        where = f"{source}: object {i + 1}"
        name = _child_text(obj, "name", where)
        box = obj.find("bndbox")
        if box is None:
            raise GroundTruthError(f"{where} ({name}) has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(_child_text(box, tag, f"{where} <bndbox>"), f"{where} <{tag}>")
                                  for tag in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise GroundTruthError(f"{where} ({name}): xmax/ymax ({xmax:g}, {ymax:g}) are smaller than xmin/ymin ({xmin:g}, {ymin:g})")
        boxes.append([xmin - 1, ymin - 1, xmax, ymax])
        labels.append(name)
        flag = _child_text(obj, "difficult", where, required=False)
        difficult.append(flag is not None and flag not in ("0", "false", "False"))
    name = PurePath(filename.replace("\\", "/")).name
    result = GroundTruth()
    result.images[name] = ImageTruth(np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, difficult=np.array(difficult, bool), size=size)
    result.sources[name] = source
    return result


def parse_annotation_files(files: Iterable[tuple[str, bytes]]) -> GroundTruth:
    """Any mix of COCO JSON and VOC XML files, merged; the format is told by content, not extension."""
    merged = GroundTruth()
    count = 0
    for name, data in files:
        count += 1
        head = data.lstrip()[:1] if isinstance(data, (bytes, bytearray)) else data.lstrip()[:1].encode()
        if head in (b"{", b"["):
            merged.merge(parse_coco(data, name))
        elif head == b"<":
            merged.merge(parse_voc(data, name))
        elif not head:
            raise GroundTruthError(f"{name} is empty")
        else:
            raise GroundTruthError(f"{name} is neither COCO JSON nor Pascal VOC XML")
    if count == 0:
        raise GroundTruthError("no annotation file given")
    return merged


def _stem(name: str) -> str:
    return PurePath(name).stem.lower()


@dataclass
class Matching:
    pairs: dict[str, str]  # uploaded image name -> annotated image name
    unlabelled_images: list[str]  # uploads with no annotation
    missing_images: list[str]  # annotations with no upload

    def describe(self) -> list[str]:
        notes = []
        if self.unlabelled_images:
            notes.append(f"No annotation for: {', '.join(self.unlabelled_images)} (left out of the metrics)")
        if self.missing_images:
            shown = ", ".join(self.missing_images[:8]) + (" …" if len(self.missing_images) > 8 else "")
            notes.append(f"{len(self.missing_images)} annotated image(s) not uploaded: {shown} (left out)")
        return notes


def match_images(image_names: Sequence[str], truth: GroundTruth) -> Matching:
    """Pair uploads with annotations: same file name, else same name ignoring case, else same stem
    (``IMG_1.jpeg`` ↔ ``IMG_1.jpg``; VOC files without <filename>)."""
    annotated = list(truth.images)
    by_lower: dict[str, str] = {}
    by_stem: dict[str, list[str]] = {}
    for name in annotated:
        by_lower.setdefault(name.lower(), name)
        by_stem.setdefault(_stem(name), []).append(name)
    pairs: dict[str, str] = {}
    taken: set[str] = set()
    unlabelled = []
    for upload in image_names:
        base = PurePath(upload).name
        candidate = base if base in truth.images else by_lower.get(base.lower())
        if candidate is None:
            stems = by_stem.get(_stem(base), [])
            candidate = stems[0] if len(stems) == 1 else None
        if candidate is None or candidate in taken:
            unlabelled.append(upload)
            continue
        pairs[upload] = candidate
        taken.add(candidate)
    return Matching(pairs, unlabelled, [name for name in annotated if name not in taken])


def align_labels(truth: dict[str, ImageTruth], vocabulary: Sequence[str]) -> tuple[dict[str, ImageTruth], dict[str, str], list[str]]:
    """Translate label names to the detector's vocabulary (case, VOC→COCO names).

    Returns the translated truth, the renames made, and labels the detector cannot predict.
    """
    known = {name.lower(): name for name in vocabulary}
    renames: dict[str, str] = {}
    unknown: set[str] = set()

    def translate(label: str) -> str:
        key = label.strip().lower()
        if key in known:
            target = known[key]
        elif VOC_TO_COCO.get(key, "").lower() in known:
            target = known[VOC_TO_COCO[key].lower()]
        else:
            unknown.add(label)
            return label
        if target != label:
            renames[label] = target
        return target

    aligned = {
        name: ImageTruth(image.boxes, [translate(label) for label in image.labels], image.crowd, image.difficult, image.size)
        for name, image in truth.items()
    }
    return aligned, renames, sorted(unknown)


def size_warnings(image_name: str, truth: ImageTruth, height: int, width: int) -> list[str]:
    """Hints that an annotation does not belong to this picture, or was made on a resized copy."""
    notes = []
    if truth.size is not None and truth.size != (height, width):
        notes.append(f"{image_name}: the annotation says {truth.size[1]}×{truth.size[0]} pixels but the image is "
                     f"{width}×{height}; boxes are compared as they are")
    if len(truth.boxes):
        right, bottom = truth.boxes[:, 2].max(), truth.boxes[:, 3].max()
        if right > width * 1.05 or bottom > height * 1.05:
            notes.append(f"{image_name}: some boxes reach ({right:.0f}, {bottom:.0f}), outside the {width}×{height} image")
    return notes
