"""Parsing the user's labels (COCO JSON, Pascal VOC XML), matching them to images, exporting results,
and selective-search proposals."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cvdemo.detection.export import coco_category_ids, to_coco_results
from cvdemo.detection.groundtruth import (GroundTruthError, align_labels, match_images, parse_annotation_files, parse_coco,
                                          parse_voc, size_warnings)
from cvdemo.detection.metrics import evaluate
from cvdemo.detection.proposals import recall_at, selective_search
from cvdemo.results import Detections

COCO_DOC = {
    "images": [{"id": 7, "file_name": "photos/astronaut.png", "width": 512, "height": 512},
               {"id": 9, "file_name": "cat.jpg", "width": 451, "height": 300}],
    "categories": [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}],
    "annotations": [
        {"id": 1, "image_id": 7, "category_id": 1, "bbox": [140, 20, 300, 490], "iscrowd": 0},
        {"id": 2, "image_id": 9, "category_id": 17, "bbox": [100, 20, 250, 270]},
        {"id": 3, "image_id": 9, "category_id": 1, "bbox": [0, 0, 50, 60], "iscrowd": 1},
    ],
}

VOC_XML = """<annotation>
  <folder>VOC2007</folder><filename>000005.jpg</filename>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <object><name>chair</name><difficult>0</difficult>
    <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox></object>
  <object><name>pottedplant</name><difficult>1</difficult>
    <bndbox><xmin>5</xmin><ymin>244</ymin><xmax>67</xmax><ymax>374</ymax></bndbox></object>
</annotation>"""


def test_parse_coco():
    truth = parse_coco(json.dumps(COCO_DOC), "gt.json")
    assert set(truth.images) == {"astronaut.png", "cat.jpg"}  # folders are dropped
    astronaut = truth.images["astronaut.png"]
    assert astronaut.boxes.tolist() == [[140, 20, 440, 510]] and astronaut.labels == ["person"]
    assert astronaut.size == (512, 512)
    cat = truth.images["cat.jpg"]
    assert cat.labels == ["cat", "person"] and cat.crowd.tolist() == [False, True]
    assert truth.image_ids == {"astronaut.png": 7, "cat.jpg": 9}
    assert truth.category_ids == {"person": 1, "cat": 17}
    assert truth.classes == ["cat", "person"]


@pytest.mark.parametrize("doc, message", [
    ("{not json", "not valid JSON (line 1"),
    ("[]", "results* file"),
    ('{"images": []}', "no 'annotations' list"),
    (json.dumps({**COCO_DOC, "annotations": [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1]}]}), "image_id 3, which is not in 'images'"),
    (json.dumps({**COCO_DOC, "annotations": [{"image_id": 7, "category_id": 5, "bbox": [0, 0, 1, 1]}]}), "category_id 5"),
    (json.dumps({**COCO_DOC, "annotations": [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1]}]}), "bbox must be [x, y, width, height]"),
    (json.dumps({**COCO_DOC, "annotations": [{"image_id": 7, "category_id": 1, "bbox": [0, 0, -5, 3]}]}), "negative width"),
    (json.dumps({**COCO_DOC, "annotations": [{"image_id": 7, "category_id": 1, "bbox": [0, "a", 5, 3]}]}), "not a number"),
    (json.dumps({**COCO_DOC, "images": [{"id": 1}]}), "images[0] needs an 'id' and a 'file_name'"),
])
def test_coco_errors_are_clear(doc, message):
    with pytest.raises(GroundTruthError, match=None) as info:
        parse_coco(doc, "gt.json")
    assert message in str(info.value) and "gt.json" in str(info.value)


def test_parse_voc():
    truth = parse_voc(VOC_XML, "000005.xml")
    image = truth.images["000005.jpg"]
    assert image.labels == ["chair", "pottedplant"]
    assert image.boxes[0].tolist() == [262, 210, 324, 339]  # 1-based inclusive → continuous
    assert image.difficult.tolist() == [False, True]
    assert image.size == (375, 500)


@pytest.mark.parametrize("xml, message", [
    ("<annotation><object>", "not valid XML"),
    ("<html></html>", "starts with <annotation>"),
    ("<annotation><object><name>cat</name></object></annotation>", "has no <bndbox>"),
    ("<annotation><object><name>cat</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>9</ymax></bndbox></object></annotation>", "smaller than"),
    ("<annotation><object><name>cat</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>9</xmax></bndbox></object></annotation>", "has no <ymax>"),
])
def test_voc_errors_are_clear(xml, message):
    with pytest.raises(GroundTruthError) as info:
        parse_voc(xml, "bad.xml")
    assert message in str(info.value)


def test_mixed_files_matching_and_alignment():
    truth = parse_annotation_files([("gt.json", json.dumps(COCO_DOC).encode()), ("000005.xml", VOC_XML.encode())])
    assert len(truth.images) == 3
    with pytest.raises(GroundTruthError, match="annotated twice"):
        parse_annotation_files([("a.json", json.dumps(COCO_DOC).encode()), ("b.json", json.dumps(COCO_DOC).encode())])
    with pytest.raises(GroundTruthError, match="neither COCO JSON nor Pascal VOC XML"):
        parse_annotation_files([("notes.txt", b"hello")])
    with pytest.raises(GroundTruthError, match="is empty"):
        parse_annotation_files([("empty.json", b"  ")])
    matching = match_images(["ASTRONAUT.PNG", "000005.jpeg", "dog.png"], truth)
    assert matching.pairs == {"ASTRONAUT.PNG": "astronaut.png", "000005.jpeg": "000005.jpg"}
    assert matching.unlabelled_images == ["dog.png"] and matching.missing_images == ["cat.jpg"]
    assert any("dog.png" in note for note in matching.describe())
    aligned, renames, unknown = align_labels(truth.images, ["person", "cat", "chair", "potted plant"])
    assert renames == {"pottedplant": "potted plant"} and unknown == []
    assert aligned["000005.jpg"].labels == ["chair", "potted plant"]
    _, _, unknown = align_labels(truth.images, ["person"])
    assert unknown == ["cat", "chair", "pottedplant"]


def test_size_warnings():
    truth = parse_coco(json.dumps(COCO_DOC)).images["astronaut.png"]
    assert size_warnings("a", truth, 512, 512) == []
    notes = size_warnings("a", truth, 256, 256)
    assert any("annotation says 512×512" in n for n in notes) and any("outside" in n for n in notes)


@pytest.mark.oracle
def test_results_file_round_trips_through_cocoeval():
    truth = parse_coco(json.dumps(COCO_DOC))
    categories = ("__background__", "person", "cat")
    predictions = {
        "astronaut.png": Detections([[141, 22, 438, 505], [0, 0, 30, 30]], [0.9, 0.3], [1, 2], categories, (512, 512)),
        "cat.jpg": Detections([[102, 21, 349, 288]], [0.8], [2], categories, (300, 451)),
    }
    records = to_coco_results(predictions, truth.image_ids, truth.category_ids)
    assert records[0] == {"image_id": 7, "category_id": 1, "bbox": [141.0, 22.0, 297.0, 483.0], "score": 0.9}
    assert {r["category_id"] for r in records} == {1, 17}
    coco_doc = json.loads(json.dumps(COCO_DOC))
    for ann in coco_doc["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
        ann.setdefault("iscrowd", 0)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_doc
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(records), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ours = evaluate(truth.images, predictions)
    assert ours.map == pytest.approx(evaluator.stats[0], abs=1e-3)
    # without ground truth ids: images are numbered and COCO's own category ids are used
    plain = to_coco_results({"x.png": Detections([[0, 0, 5, 5]], [0.5], [0], ("dog",), (10, 10))})
    assert plain == [{"image_id": 1, "category_id": coco_category_ids()["dog"], "bbox": [0.0, 0.0, 5.0, 5.0], "score": 0.5}]
    face = to_coco_results({"x.png": Detections([[0, 0, 5, 5]], [0.5], [1], ("background", "face"), (10, 10))})
    assert face[0]["category_id"] == 2


def test_selective_search_finds_an_obvious_object():
    rng = np.random.default_rng(0)
    image = (rng.normal(90, 8, (240, 320, 3))).clip(0, 255).astype(np.uint8)
    image[60:180, 100:220] = (220, 40, 40)  # a red square on a noisy grey background
    progress = []
    proposals = selective_search(image, "fast", on_progress=lambda f, text: progress.append(f))
    assert len(proposals) > 5 and proposals.seconds > 0
    assert progress[0] == 0.0 and progress[-1] == 1.0 and len(progress) == 3
    boxes = proposals.boxes
    assert boxes[:, 0].min() >= 0 and boxes[:, 2].max() <= 320.5 and boxes[:, 3].max() <= 240.5
    assert recall_at(boxes, np.array([[100, 60, 220, 180]]), 0.8) == 1.0
    assert len(np.unique(boxes, axis=0)) == len(boxes)
    with pytest.raises(ValueError):
        selective_search(image, "slow")


def test_selective_search_downscales_big_images(astronaut):
    proposals = selective_search(astronaut, "fast", max_side=200)
    assert proposals.searched_size == (200, 200)
    assert proposals.boxes[:, 2].max() > 400  # boxes come back in original pixels
