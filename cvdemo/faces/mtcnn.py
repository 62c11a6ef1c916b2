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

The cascade keeps the original's pixel conventions so that it finds the same faces, boxes and
landmarks as facenet-pytorch's ``MTCNN`` (``tests/test_oracle_mtcnn.py``). Inside the cascade a
box is MATLAB-style: ``x1, y1`` is the 1-based index of its first pixel column/row and ``x2, y2``
that of its last, so a box is ``x2 - x1 + 1`` pixels wide. Each candidate is cut at truncated
integer corners, clipped to the image (a box over the border is stretched, not padded) and
area-resampled. Results leave the cascade in this project's continuous coordinates (pixel ``i``
spans ``[i, i + 1)``): the box ``[x1 - 1, x2]``, landmarks at pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import nms

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
    boxes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4))  # the square MATLAB-style boxes the next stage crops (none before P-Net)
    corners: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int32))  # their integer crop corners
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
    """Grow each box to a square around its centre (the next stage wants square crops).

    The operations run in the original's order (left + w/2 − side/2, then left + side), so the
    float32 corners, and the integer crops cut from them, are the original's."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    left = boxes[:, 0] + width * 0.5 - side * 0.5
    top = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.stack([left, top, left + side, top + side], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, size_from_inclusive_corners: bool) -> torch.Tensor:
    """Apply a stage's box regression: offsets are fractions of the box size per edge.

    R-Net and O-Net were trained with sizes counted in pixels, ``x2 − x1 + 1``; the original
    regresses P-Net's boxes with ``x2 − x1``, and the port follows it to land on the same crops."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    if size_from_inclusive_corners:
        size = size + 1
    return boxes[:, :4] + offsets * size.repeat(1, 2)


def _pnet_windows(prob: torch.Tensor, threshold: float, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 12×12 windows P-Net accepts on one pyramid level: their (row, column) on the stride-2
    map and their boxes in the image. Window (y, x) covers scaled pixels 2x … 2x + 11, i.e. the
    1-based columns 2x + 1 … 2x + 12, taken back to the image and floored like the original."""
    ys, xs = torch.nonzero(prob >= threshold, as_tuple=True)
    corner = torch.stack([xs, ys], dim=1).to(prob.dtype)
    first = ((2 * corner + 1) / scale).floor()
    last = ((2 * corner + 12) / scale).floor()
    return ys, xs, torch.cat([first, last], dim=1)


def _crop_corners(boxes: torch.Tensor, width: int, height: int) -> np.ndarray:
    """Integer crop corners of MATLAB-style boxes: truncated towards zero and clipped to the
    image's 1-based pixels, as ``(x1, y1, x2, y2)`` rows."""
    corners = boxes.trunc().int().cpu().numpy()
    corners[:, 0:2] = np.maximum(corners[:, 0:2], 1)
    corners[:, 2] = np.minimum(corners[:, 2], width)
    corners[:, 3] = np.minimum(corners[:, 3], height)
    return corners


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS with overlap = intersection / smaller area: drops a small box inside a larger one
    (O-Net's last step; IoU would keep a face-part box inside a face box). Areas count whole
    pixels (``x2 − x1 + 1``), as the original's MATLAB-style boxes do."""
    order = torch.argsort(scores, descending=True)
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep = []
    alive = torch.ones(len(boxes), dtype=torch.bool, device=boxes.device)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = (rb - lt + 1).clamp(min=0).prod(dim=1)
        overlap = inter / torch.minimum(area[i], area)
        alive &= overlap <= threshold
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


def _to_continuous(boxes: torch.Tensor) -> torch.Tensor:
    """MATLAB-style (1-based, inclusive) corners → continuous coordinates ``[x1 − 1, x2]``."""
    return boxes[:, :4] - torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=boxes.dtype, device=boxes.device)


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
        # Bounds R-Net's batch on busy images, keeping the best-scored candidates. The original
        # has no bound; on the test photos P-Net keeps at most a few hundred, far below it.
        self.max_candidates = max_candidates

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

    def _crops(self, image: torch.Tensor, corners: np.ndarray, size: int) -> torch.Tensor:
        """Normalised ``size``×``size`` crops of ``image`` (1, 3, H, W) at integer MATLAB-style
        ``corners`` (see :func:`_crop_corners`), each area-resampled on its own as the original
        does: a crop clipped at the border is stretched to the square, not padded."""
        crops = [
            F.interpolate(image[:, :, y1 - 1:y2, x1 - 1:x2], size=(size, size), mode="area")
            for x1, y1, x2, y2 in corners.tolist()
        ]
        stacked = torch.cat(crops) if crops else image.new_zeros((0, 3, size, size))
        # channels_last: PyTorch's CPU max-pooling is several times faster on it.
        return self._normalise(stacked).contiguous(memory_format=torch.channels_last)

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
            self._crop_stage(cascades, 24, self.rnet_forward, self._rnet_stage)
            self._crop_stage(cascades, 48, self.onet_forward, self._onet_stage)
        return [cascade.finished() for cascade in cascades]

    def _crop_stage(self, cascades: list["_Cascade"], size: int, forward, finish) -> None:
        """One ``forward`` over the crops of every image still in the cascade, then each image's ``finish``."""
        active = [c for c in cascades if c.result is None]
        for cascade in active:
            height, width = cascade.image_size
            corners = _crop_corners(cascade.boxes, width, height)
            # A box wholly off the image has nothing to crop; the original skips it too.
            inside = (corners[:, 2] >= corners[:, 0]) & (corners[:, 3] >= corners[:, 1])
            cascade.boxes, cascade.corners = cascade.boxes[torch.from_numpy(inside).to(cascade.boxes.device)], corners[inside]
            if len(cascade.boxes) == 0:
                cascade.done()
        active = [c for c in active if c.result is None]
        if not active:
            return
        crops = [self._crops(c.tensor, c.corners, size) for c in active]
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

        # Stage 1: P-Net over the pyramid. Every level is area-resampled from the photo itself
        # (not from a larger level) and normalised after resampling, as in the original: the
        # scores near P-Net's threshold, and so the candidates, are the original's.
        candidates = []
        for scale in scales:
            level = self._normalise(F.interpolate(tensor, size=(int(height * scale + 1), int(width * scale + 1)), mode="area"))
            offsets, prob = self.network.pnet(level)
            prob, offsets = prob[0], offsets[0]
            cascade.windows += prob.numel()
            ys, xs, boxes = _pnet_windows(prob, pnet_t, scale)
            if len(ys) == 0:
                continue
            scores = prob[ys, xs]
            keep = nms(boxes, scores, 0.5)
            candidates.append(torch.cat([boxes[keep], scores[keep, None], offsets[:, ys, xs].T[keep]], dim=1))
        if not candidates:
            return cascade.done()
        found = torch.cat(candidates)
        found = found[nms(found[:, :4], found[:, 4], 0.7)]
        found = found[torch.argsort(found[:, 4], descending=True)[: self.max_candidates]]
        cascade.stages["P-Net"] = torch.cat([_to_continuous(found[:, :4]), found[:, 4:5]], 1).cpu().numpy()
        cascade.boxes = _square(_regress(found[:, :4], found[:, 5:9], size_from_inclusive_corners=False))
        return cascade

    def _rnet_stage(self, cascade: "_Cascade", offsets: torch.Tensor, prob: torch.Tensor) -> None:
        """Stage 2: R-Net's verdict on the 24×24 crops."""
        keep = prob > self.thresholds[1]
        boxes, scores, offsets = cascade.boxes[keep], prob[keep], offsets[keep]
        keep = nms(boxes, scores, 0.7)
        boxes, scores, offsets = boxes[keep], scores[keep], offsets[keep]
        cascade.stages["R-Net"] = torch.cat([_to_continuous(boxes), scores[:, None]], 1).cpu().numpy()
        cascade.boxes = _square(_regress(boxes, offsets, size_from_inclusive_corners=True))
        if len(cascade.boxes) == 0:
            cascade.done()

    def _onet_stage(self, cascade: "_Cascade", offsets: torch.Tensor, points: torch.Tensor, prob: torch.Tensor) -> None:
        """Stage 3: O-Net on the 48×48 crops: final score, box and landmarks."""
        keep = prob > cascade.onet_threshold
        boxes, scores, offsets, points = cascade.boxes[keep], prob[keep], offsets[keep], points[keep]
        # Landmarks come as fractions of the crop, whose first pixel starts at x1 − 1 in
        # continuous coordinates; −0.5 then turns them into pixel indices (pixel centres at
        # integers), the convention dlib's landmarks use.
        side = boxes[:, 2:4] - boxes[:, 0:2] + 1
        landmarks = torch.stack([
            side[:, 0:1] * points[:, 0:5] + boxes[:, 0:1] - 1,
            side[:, 1:2] * points[:, 5:10] + boxes[:, 1:2] - 1,
        ], dim=2) - 0.5
        boxes = _regress(boxes, offsets, size_from_inclusive_corners=True)
        keep = _nms_min(boxes, scores, 0.7) if len(boxes) else torch.zeros(0, dtype=torch.long)
        boxes, scores, landmarks = _to_continuous(boxes[keep]), scores[keep], landmarks[keep]
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
