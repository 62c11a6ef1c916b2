"""MTCNN (Zhang et al. 2016): a three-stage cascade of small CNNs that finds faces and 5 landmarks.

The cascade is the sliding-window detector of the lectures made cheap:

* **P-Net** is fully convolutional: run over an image pyramid it scores every 12×12 window
  (stride 2) at every scale in one pass and regresses a box for each; most windows are
  rejected here.
* **R-Net** re-examines each surviving window cropped and resized to 24×24, rejecting most
  false positives and refining the box.
* **O-Net** looks at 48×48 crops of the remaining boxes and outputs the final score, a refined
  box and five landmarks (eye centres, nose tip, mouth corners).

Non-maximum suppression runs after each stage. The weights are facenet-pytorch's conversion of
the original Caffe models (``facenet_pytorch/data/{p,r,o}net.pt``, MIT); the networks and the
cascade are written here, facenet-pytorch's code is never imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import nms, roi_align

from cvdemo.batching import Outputs, as_outputs, split_outputs
from cvdemo.device import full_fp32_convolutions
from cvdemo.results import DetectionInsight, Detections
from cvdemo.weights import PackageFile

MTCNN_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
WEIGHTS = {
    name: PackageFile("facenet-pytorch", f"facenet_pytorch/data/{name}.pt", "2.6.0", digest) for name, digest in MTCNN_SHA256.items()
}
CATEGORIES = ("face",)


class PNet(nn.Module):
    """12×12 receptive field, stride 2: (N, 3, H, W) → box offsets (N, 4, h, w), face prob (N, h, w)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, 1)  # box offsets

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _max_pool_2x2_ceil(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)[:, 1]


def _max_pool_2x2_ceil(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, 2, 2, ceil_mode=True)`` (Caffe rounds pooled sizes up), as two pairwise
    maxima: identical values, ~4× faster on CPU for P-Net's large, thin maps."""
    x = F.pad(x, (0, x.shape[3] % 2, 0, x.shape[2] % 2), value=float("-inf"))
    rows = torch.maximum(x[:, :, 0::2], x[:, :, 1::2])
    return torch.maximum(rows[:, :, :, 0::2], rows[:, :, :, 1::2])


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    # The dense weights were converted from Caffe/TF with (width, height, channel) order.
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class RNet(nn.Module):
    """24×24 crops → box offsets (N, 4), face prob (N,)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_caffe_flatten(x)))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """48×48 crops → box offsets (N, 4), landmarks (N, 10: 5 x then 5 y, box-relative), prob (N,)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_caffe_flatten(x)))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)[:, 1]


class MTCNNNetworks(nn.Module):
    """The three stages as one module, so ``.to(device)``/``.eval()`` and hooks see them all."""

    def __init__(self):
        super().__init__()
        self.pnet = PNet()
        self.rnet = RNet()
        self.onet = ONet()


def load_networks(device: torch.device | str = "cpu") -> MTCNNNetworks:
    networks = MTCNNNetworks()
    for name in ("pnet", "rnet", "onet"):
        state = torch.load(WEIGHTS[name].path(), map_location="cpu", weights_only=True)
        getattr(networks, name).load_state_dict(state)
    return networks.eval().to(device)


@dataclass
class CascadeResult:
    """Final faces plus what each stage kept, for the "how the cascade narrows down" views."""

    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 in image pixels
    scores: np.ndarray  # (N,)
    landmarks: np.ndarray  # (N, 5, 2): left eye, right eye, nose tip, left/right mouth corner (image left/right)
    image_size: tuple[int, int]
    stages: dict[str, np.ndarray] = field(default_factory=dict)  # stage name → (M, 5) boxes + score
    scales: list[float] = field(default_factory=list)
    windows_scored: int = 0  # how many 12×12 windows P-Net evaluated over the pyramid


@dataclass
class _Cascade:
    """One image on its way through the cascade of a (batched) run."""

    tensor: torch.Tensor  # (1, 3, H, W) float pixels
    image_size: tuple[int, int]
    scales: list[float]
    onet_threshold: float
    windows: int = 0
    stages: dict[str, np.ndarray] = field(default_factory=dict)
    boxes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4))  # the square boxes the next stage crops (none before P-Net)
    result: CascadeResult | None = None

    def done(self) -> "_Cascade":
        """No face left: the result is empty, with what the stages so far kept."""
        empty = np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        self.result = CascadeResult(*empty, self.image_size, self.stages, self.scales, self.windows)
        return self

    def finished(self) -> CascadeResult:
        """The result, which every cascade has once O-Net (or an earlier empty stage) is done."""
        if self.result is None:
            raise RuntimeError("the cascade stopped before O-Net without a result")
        return self.result


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the next stage wants square crops)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    cx = boxes[:, 0] + w / 2
    cy = boxes[:, 1] + h / 2
    return torch.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply a stage's box regression: offsets are fractions of the box size per edge."""
    size = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)
    return boxes[:, :4] + offsets * size


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS with overlap = intersection / smaller area: drops a small box inside a larger one
    (O-Net's last step; IoU would keep a face-part box inside a face box)."""
    order = torch.argsort(scores, descending=True)
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep = []
    alive = torch.ones(len(boxes), dtype=torch.bool, device=boxes.device)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        overlap = inter / torch.minimum(area[i], area).clamp(min=1e-6)
        alive &= overlap <= threshold
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


class MTCNN:
    """The cascade as a :class:`~cvdemo.tasks.Detector` (category "face", landmarks in its insight)."""

    categories = CATEGORIES

    def __init__(self, networks: MTCNNNetworks, device: torch.device, *, min_face_size: float = 20.0,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709,
                 max_candidates: int = 2000):
        self.network = networks
        self.device = device
        full_fp32_convolutions()
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.factor = factor
        self.max_candidates = max_candidates  # bounds R-Net's batch on busy images

    # ------------------------------------------------------------------ stages

    def scales(self, height: int, width: int, min_face_size: float | None = None) -> list[float]:
        """P-Net sees 12-pixel windows: scale the image so a min_face_size face becomes 12 px,
        then shrink by ``factor`` until the short side drops below 12."""
        first = 12.0 / (min_face_size or self.min_face_size)
        scales, shortest = [], min(height, width) * first
        scale = first
        while shortest >= 12:
            scales.append(scale)
            scale *= self.factor
            shortest *= self.factor
        return scales

    @staticmethod
    def _normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - 127.5) * 0.0078125

    def _crops(self, image: torch.Tensor, boxes: torch.Tensor, size: int, samples: int = -1) -> torch.Tensor:
        """Square crops resized to ``size``; parts outside the image are black (zero after
        normalising would be grey, so pad before normalising, as the original MTCNN does).

        Averaging a grid of ``samples``² bilinear samples per output pixel approximates area
        resampling (-1: enough samples to cover the whole bin, exact but slow for big boxes).
        """
        rois = torch.cat([torch.zeros(len(boxes), 1, device=boxes.device), boxes], dim=1)
        crops = roi_align(image, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=samples, aligned=True)
        # channels_last: PyTorch's CPU max-pooling is several times faster on it.
        return self._normalise(crops).contiguous(memory_format=torch.channels_last)

    def rnet_forward(self, crops: torch.Tensor) -> Outputs:
        """R-Net on normalised ``(N, 3, 24, 24)`` crops → box offsets ``(N, 4)``, face probability ``(N,)``."""
        with torch.inference_mode():
            return as_outputs(self.network.rnet(crops.to(self.device)))

    def onet_forward(self, crops: torch.Tensor) -> Outputs:
        """O-Net on normalised ``(N, 3, 48, 48)`` crops → offsets ``(N, 4)``, landmarks ``(N, 10)``, probability ``(N,)``."""
        with torch.inference_mode():
            return as_outputs(self.network.onet(crops.to(self.device)))

    def run(self, image: np.ndarray, min_face_size: float | None = None, final_threshold: float | None = None) -> CascadeResult:
        """All faces with every stage's boxes; ``final_threshold`` overrides O-Net's threshold."""
        return self.run_batch([image], min_face_size, final_threshold)[0]

    def run_batch(self, images, min_face_size: float | None = None, final_threshold: float | None = None) -> list[CascadeResult]:
        """:meth:`run` for several images: P-Net per image (each has its own pyramid), then one
        R-Net pass over every image's 24×24 crops and one O-Net pass over every 48×48 crop."""
        with torch.inference_mode():
            cascades = [self._pnet_stage(image, min_face_size, final_threshold) for image in images]
            # R-Net sees hundreds of crops: 4×4 samples per pixel is plenty at 24×24 and ~10×
            # cheaper than covering each bin of a large box completely.
            self._crop_stage(cascades, 24, 4, self.rnet_forward, self._rnet_stage)
            self._crop_stage(cascades, 48, -1, self.onet_forward, self._onet_stage)
        return [cascade.finished() for cascade in cascades]

    def _crop_stage(self, cascades: list["_Cascade"], size: int, samples: int, forward, finish) -> None:
        """One ``forward`` over the crops of every image still in the cascade, then each image's ``finish``."""
        active = [c for c in cascades if c.result is None]
        if not active:
            return
        crops = [self._crops(c.tensor, c.boxes, size, samples) for c in active]
        outputs = forward(torch.cat(crops))
        for cascade, own in zip(active, split_outputs(outputs, [len(c) for c in crops])):
            finish(cascade, *own)

    def _pnet_stage(self, image: np.ndarray, min_face_size: float | None, final_threshold: float | None) -> "_Cascade":
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 RGB image, got shape {image.shape}")
        height, width = image.shape[:2]
        pnet_t = self.thresholds[0]
        onet_t = self.thresholds[2] if final_threshold is None else final_threshold
        # A copy: uploads and cached arrays are read-only, and torch wants writable memory.
        tensor = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).to(self.device).permute(2, 0, 1)[None].float()
        scales = self.scales(height, width, min_face_size)
        cascade = _Cascade(tensor, (height, width), scales, onet_t)
        if not scales:
            return cascade.done()

        # Stage 1: P-Net over the pyramid. Levels are area-resampled from the first (largest)
        # level rather than from the full photo: the same averages up to rounding, at a fraction
        # of the memory traffic on 12-MP photos. Normalising commutes with area averaging, so
        # it is done once.
        first = self._normalise(F.interpolate(tensor, size=(int(height * scales[0] + 1), int(width * scales[0] + 1)), mode="area"))
        candidates = []
        for scale in scales:
            size = (int(height * scale + 1), int(width * scale + 1))
            level = first if size == tuple(first.shape[2:]) else F.interpolate(first, size=size, mode="area")
            offsets, prob = self.network.pnet(level)
            prob, offsets = prob[0], offsets[0]
            cascade.windows += prob.numel()
            ys, xs = torch.nonzero(prob >= pnet_t, as_tuple=True)
            if len(ys) == 0:
                continue
            # Boxes are continuous coordinates (pixel i spans [i, i + 1)): window (y, x) of the
            # stride-2 map covers [2x, 2x + 12) of the scaled image.
            x1 = 2 * xs.float() / scale
            y1 = 2 * ys.float() / scale
            x2 = (2 * xs.float() + 12) / scale
            y2 = (2 * ys.float() + 12) / scale
            boxes = torch.stack([x1, y1, x2, y2], dim=1)
            scores = prob[ys, xs]
            keep = nms(boxes, scores, 0.5)
            candidates.append(torch.cat([boxes[keep], scores[keep, None], offsets[:, ys, xs].T[keep]], dim=1))
        if not candidates:
            return cascade.done()
        found = torch.cat(candidates)
        found = found[nms(found[:, :4], found[:, 4], 0.7)]
        found = found[torch.argsort(found[:, 4], descending=True)[: self.max_candidates]]
        cascade.stages["P-Net"] = torch.cat([found[:, :4], found[:, 4:5]], 1).cpu().numpy()
        cascade.boxes = _square(_regress(found[:, :4], found[:, 5:9]))
        return cascade

    def _rnet_stage(self, cascade: "_Cascade", offsets: torch.Tensor, prob: torch.Tensor) -> None:
        """Stage 2: R-Net's verdict on the 24×24 crops."""
        keep = prob > self.thresholds[1]
        boxes, scores, offsets = cascade.boxes[keep], prob[keep], offsets[keep]
        keep = nms(boxes, scores, 0.7)
        boxes, scores, offsets = boxes[keep], scores[keep], offsets[keep]
        cascade.stages["R-Net"] = torch.cat([boxes, scores[:, None]], 1).cpu().numpy()
        cascade.boxes = _square(_regress(boxes, offsets))
        if len(cascade.boxes) == 0:
            cascade.done()

    def _onet_stage(self, cascade: "_Cascade", offsets: torch.Tensor, points: torch.Tensor, prob: torch.Tensor) -> None:
        """Stage 3: O-Net on the 48×48 crops: final score, box and landmarks."""
        keep = prob > cascade.onet_threshold
        boxes, scores, offsets, points = cascade.boxes[keep], prob[keep], offsets[keep], points[keep]
        side = (boxes[:, 2:4] - boxes[:, 0:2])
        # Landmarks come as fractions of the crop; −0.5 turns continuous coordinates into pixel
        # indices (pixel centres at integers), the convention dlib's landmarks use.
        landmarks = torch.stack([
            boxes[:, 0:1] + points[:, 0:5] * side[:, 0:1],
            boxes[:, 1:2] + points[:, 5:10] * side[:, 1:2],
        ], dim=2) - 0.5
        boxes = _regress(boxes, offsets)
        keep = _nms_min(boxes, scores, 0.7) if len(boxes) else torch.zeros(0, dtype=torch.long)
        boxes, scores, landmarks = boxes[keep], scores[keep], landmarks[keep]
        cascade.stages["O-Net"] = torch.cat([boxes, scores[:, None]], 1).cpu().numpy()
        order = torch.argsort(scores, descending=True)
        cascade.result = CascadeResult(
            boxes[order].cpu().numpy().astype(np.float32),
            scores[order].cpu().numpy().astype(np.float32),
            landmarks[order].cpu().numpy().astype(np.float32),
            cascade.image_size, cascade.stages, cascade.scales, cascade.windows,
        )

    # ------------------------------------------------------------------ Detector protocol

    def detect(self, image: np.ndarray, score_threshold: float = 0.7) -> Detections:
        """Faces with O-Net probability ≥ ``score_threshold``; landmarks in ``insight``."""
        result = self.run(image, final_threshold=min(score_threshold, self.thresholds[2]))
        keep = result.scores >= score_threshold
        insight = DetectionInsight(
            landmarks=result.landmarks[keep],
            landmark_names=("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner"),
            stages=result.stages,
            scales=tuple(result.scales),
            windows_scored=result.windows_scored,
        )
        return Detections(result.boxes[keep], result.scores[keep], np.zeros(int(keep.sum()), np.int64), CATEGORIES, result.image_size, insight)


def build_mtcnn(device: torch.device) -> MTCNN:
    return MTCNN(load_networks(device), device)
