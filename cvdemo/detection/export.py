"""Detections as a COCO *results* file: the list ``COCO.loadRes`` and ``COCOeval`` read.

``[{"image_id": int, "category_id": int, "bbox": [x, y, width, height], "score": float}, ...]``
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Mapping, Sequence

from cvdemo.detection.boxes import xyxy_to_xywh
from cvdemo.results import Detections


@lru_cache(maxsize=1)
def coco_category_ids() -> dict[str, int]:
    """COCO's official ids (1..90 with gaps): torchvision's COCO category list is indexed by id."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    names = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    return {name: index for index, name in enumerate(names) if name not in ("__background__", "N/A")}


def category_id(name: str, categories: Sequence[str], known: Mapping[str, int] | None = None) -> int:
    """The id of the user's annotation file when it has the class, else COCO's, else 1 + index."""
    if known and name in known:
        return int(known[name])
    coco = coco_category_ids()
    if name in coco:
        return coco[name]
    return list(categories).index(name) + 1


def to_coco_results(per_image: Mapping[str, Detections], image_ids: Mapping[str, int] | None = None,
                    category_ids: Mapping[str, int] | None = None, decimals: int = 2) -> list[dict]:
    """One record per box. Images without a given id are numbered 1, 2, … in order."""
    records = []
    for number, (name, detections) in enumerate(per_image.items(), start=1):
        image_id = int(image_ids[name]) if image_ids and name in image_ids else number
        for box, score, label in zip(xyxy_to_xywh(detections.boxes), detections.scores, detections.label_names):
            records.append({
                "image_id": image_id,
                "category_id": category_id(label, detections.categories, category_ids),
                "bbox": [round(float(v), decimals) for v in box],
                "score": round(float(score), 5),
            })
    return records


def to_json(records: list[dict]) -> str:
    return json.dumps(records, indent=1)
