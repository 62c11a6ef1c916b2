"""Two-stage detection in pieces: RoI pooling vs RoIAlign, box parameterisation, the multi-task
loss, and the R-CNN → Fast → Faster pipeline timed on this machine.

RoI pooling (Fast R-CNN) rounds the proposal to whole feature cells and splits it into
``7×7`` bins whose edges are rounded again, then max-pools each bin. RoIAlign (Mask R-CNN) keeps
the proposal's real coordinates and averages bilinear samples at exact points. Both are written
out here step by step so that the page can draw the bins and sample points; the tests check them
against ``torchvision.ops.roi_pool`` / ``roi_align``, which the detectors themselves use.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# MobileNetV2's ``features`` blocks to run for a feature map of each stride.
MOBILENET_STAGES = {8: 7, 16: 14, 32: 19}
POOLED = 7  # Fast R-CNN and Mask R-CNN pool every proposal to 7×7


@dataclass
class FeatureMap:
    features: torch.Tensor  # (1, C, h, w)
    stride: int  # network-input pixels per feature cell
    scale: float  # network-input pixels per original pixel

    @property
    def spatial_scale(self) -> float:
        """Feature cells per original pixel: what ``torchvision.ops`` calls ``spatial_scale``."""
        return self.scale / self.stride

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.features.shape[-2:])  # type: ignore[return-value]


def mobilenet_features(classifier, image: np.ndarray, stride: int = 16, longest_side: int = 448) -> FeatureMap:
    """MobileNetV2's feature map of the whole picture (resized, aspect kept, to ``longest_side``),
    as Fast R-CNN computes it once for all proposals."""
    from torchvision.transforms.v2 import functional as TF

    from cvdemo.images import to_tensor

    if stride not in MOBILENET_STAGES:
        raise ValueError(f"stride must be one of {sorted(MOBILENET_STAGES)}, got {stride}")
    height, width = image.shape[:2]
    scale = longest_side / max(height, width)
    size = [max(stride, round(height * scale)), max(stride, round(width * scale))]
    tensor = TF.resize(to_tensor(image, classifier.device), size, antialias=True).unsqueeze(0).float().div_(255.0)
    tensor = (tensor - classifier.mean) / classifier.std
    with torch.inference_mode():
        features = classifier.network.features[:MOBILENET_STAGES[stride]](tensor)
    # The network pads odd sizes, so the true scale is feature cells × stride over the input.
    return FeatureMap(features, stride, features.shape[-1] * stride / width)


# ---------------------------------------------------------------------------------------------
# RoI pooling


def _round_half_away(value: float) -> int:
    """C's ``round()`` (what torchvision's kernel uses): halves away from zero, unlike Python's."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


@dataclass(frozen=True)
class PoolBins:
    """Where RoI pooling's bins lie, in feature cells: bin ``i`` covers rows ``rows[i][0] ≤ r < rows[i][1]``."""

    start: tuple[int, int]  # (x, y) of the rounded proposal's first cell
    end: tuple[int, int]  # (x, y) of its last cell (inclusive)
    rows: tuple[tuple[int, int], ...]
    cols: tuple[tuple[int, int], ...]


def roi_pool_bins(box: Sequence[float], spatial_scale: float, size: tuple[int, int], output: int = POOLED) -> PoolBins:
    height, width = size
    x1, y1, x2, y2 = (_round_half_away(v * spatial_scale) for v in box)
    roi_w, roi_h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)

    def edges(start: int, length: int, limit: int) -> tuple[tuple[int, int], ...]:
        step = length / output
        return tuple((min(max(math.floor(i * step) + start, 0), limit), min(max(math.ceil((i + 1) * step) + start, 0), limit))
                     for i in range(output))

    return PoolBins((x1, y1), (x2, y2), edges(y1, roi_h, height), edges(x1, roi_w, width))


def roi_pool(features: torch.Tensor, box: Sequence[float], spatial_scale: float, output: int = POOLED) -> torch.Tensor:
    """``(C, output, output)``: the maximum of each bin (0 for a bin that holds no cell)."""
    height, width = features.shape[-2:]
    bins = roi_pool_bins(box, spatial_scale, (height, width), output)
    maps = features[0]
    pooled = torch.zeros(maps.shape[0], output, output, dtype=maps.dtype)
    for i, (r0, r1) in enumerate(bins.rows):
        for j, (c0, c1) in enumerate(bins.cols):
            if r1 > r0 and c1 > c0:
                pooled[:, i, j] = maps[:, r0:r1, c0:c1].amax(dim=(1, 2))
    return pooled


def quantised_box(box: Sequence[float], spatial_scale: float, size: tuple[int, int]) -> np.ndarray:
    """The region RoI pooling actually reads, in original pixels: whole feature cells."""
    bins = roi_pool_bins(box, spatial_scale, size)
    cells = np.array([bins.cols[0][0], bins.rows[0][0], bins.cols[-1][1], bins.rows[-1][1]], dtype=np.float64)
    return cells / spatial_scale


# ---------------------------------------------------------------------------------------------
# RoIAlign


def roi_align_points(box: Sequence[float], spatial_scale: float, output: int = POOLED, sampling_ratio: int = 2,
                     aligned: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The sample points, in feature coordinates: ``ys (output, ratio)``, ``xs (output, ratio)``.
    Bin ``(i, j)`` averages the bilinear values at every ``(ys[i, a], xs[j, b])``."""
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (v * spatial_scale - offset for v in box)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # the original RoIAlign forced at least one cell
        roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    bin_w, bin_h = roi_w / output, roi_h / output
    within = (np.arange(sampling_ratio) + 0.5) / sampling_ratio
    ys = y1 + (np.arange(output)[:, None] + within[None]) * bin_h
    xs = x1 + (np.arange(output)[:, None] + within[None]) * bin_w
    return ys, xs


def bilinear(maps: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """``(C,)``: the maps' value at a real-valued point, 0 beyond one cell outside the map."""
    height, width = maps.shape[-2:]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return torch.zeros(maps.shape[0], dtype=maps.dtype)
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * maps[:, y0, x0] + (1 - ly) * lx * maps[:, y0, x1]
            + ly * (1 - lx) * maps[:, y1, x0] + ly * lx * maps[:, y1, x1])


def roi_align(features: torch.Tensor, box: Sequence[float], spatial_scale: float, output: int = POOLED,
              sampling_ratio: int = 2, aligned: bool = True) -> torch.Tensor:
    """``(C, output, output)``: each bin the mean of ``sampling_ratio²`` bilinear samples."""
    ys, xs = roi_align_points(box, spatial_scale, output, sampling_ratio, aligned)
    maps = features[0]
    pooled = torch.zeros(maps.shape[0], output, output, dtype=maps.dtype)
    for i in range(output):
        for j in range(output):
            samples = [bilinear(maps, float(y), float(x)) for y in ys[i] for x in xs[j]]
            pooled[:, i, j] = torch.stack(samples).mean(dim=0)
    return pooled


@dataclass(frozen=True)
class Quantisation:
    box: np.ndarray  # what was asked for
    read: np.ndarray  # what RoI pooling reads
    edge_shift: np.ndarray  # read − box, per edge, original pixels
    iou: float


def quantisation(box: Sequence[float], feature_map: FeatureMap) -> Quantisation:
    from cvdemo.detection.boxes import iou

    asked = np.asarray(box, dtype=np.float64)
    read = quantised_box(box, feature_map.spatial_scale, feature_map.size)
    return Quantisation(asked, read, read - asked, iou(asked, read))


# ---------------------------------------------------------------------------------------------
# Box parameterisation and the multi-task loss


Box = Sequence[float] | np.ndarray  # x1, y1, x2, y2: a list, a tuple, or an array (what decode returns)


def _centre_size(box: Box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


def encode(proposal: Sequence[float], box: Box) -> np.ndarray:
    """R-CNN's regression targets of ``box`` relative to ``proposal``: ``tx = (x − xa)/wa``,
    ``ty = (y − ya)/ha``, ``tw = log(w/wa)``, ``th = log(h/ha)``."""
    px, py, pw, ph = _centre_size(proposal)
    gx, gy, gw, gh = _centre_size(box)
    if min(pw, ph, gw, gh) <= 0:
        raise ValueError("both boxes need a positive width and height")
    return np.array([(gx - px) / pw, (gy - py) / ph, math.log(gw / pw), math.log(gh / ph)])


def decode(proposal: Sequence[float], deltas: Sequence[float]) -> np.ndarray:
    """The box that ``deltas`` (tx, ty, tw, th) turn ``proposal`` into."""
    px, py, pw, ph = _centre_size(proposal)
    tx, ty, tw, th = (float(v) for v in deltas)
    x, y, w, h = px + tx * pw, py + ty * ph, pw * math.exp(tw), ph * math.exp(th)
    return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])


def smooth_l1(x: np.ndarray) -> np.ndarray:
    """Fast R-CNN's robust loss: ``0.5·x²`` for ``|x| < 1``, ``|x| − 0.5`` beyond."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    return np.where(x < 1.0, 0.5 * x ** 2, x - 0.5)


@dataclass(frozen=True)
class MultiTaskLoss:
    proposal_iou: float  # IoU of the proposal with the ground truth
    foreground: bool  # IoU ≥ the threshold: the proposal is labelled with the object's class u ≥ 1
    targets: np.ndarray  # v = encode(proposal, truth)
    predicted: np.ndarray  # t^u = encode(proposal, predicted box)
    per_coordinate: np.ndarray  # smooth L1 of t^u − v
    squared: float  # the lecture's l_box: Σ squared differences of x, y, log w, log h (t-space)
    classification: float  # −log p_u
    lam: float

    @property
    def localisation(self) -> float:
        return float(self.per_coordinate.sum()) if self.foreground else 0.0

    @property
    def total(self) -> float:
        return self.classification + self.lam * self.localisation


def multitask_loss(proposal: Sequence[float], truth: Sequence[float], predicted: Box,
                   class_probability: float, lam: float = 1.0, foreground_iou: float = 0.5) -> MultiTaskLoss:
    """Fast R-CNN's ``L(p, u, t^u, v) = L_cls(p, u) + λ[u ≥ 1] L_loc(t^u, v)`` for one proposal.

    ``class_probability`` is ``p_u``, the probability given to the true class (or, for a
    background proposal, to background); ``predicted`` is the box the head regressed from it.
    """
    from cvdemo.detection.boxes import iou

    overlap = iou(proposal, truth)
    targets = encode(proposal, truth)
    predicted_deltas = encode(proposal, predicted)
    difference = predicted_deltas - targets
    probability = min(max(float(class_probability), 1e-12), 1.0)
    return MultiTaskLoss(overlap, overlap >= foreground_iou, targets, predicted_deltas, smooth_l1(difference),
                         float((difference ** 2).sum()), -math.log(probability), lam)


# ---------------------------------------------------------------------------------------------
# The pipeline, timed here

LECTURE_TIMINGS = (  # seconds per image, as the lectures quote them (GPU, 2014–2016)
    ("R-CNN (2014)", "≈ 50 s per image", 50.0),
    ("Fast R-CNN (2015)", "2.3 s per image", 2.3),
    ("Faster R-CNN (2015)", "0.14 s per image (7 FPS)", 0.14),
    ("YOLO (2016)", "40–60 FPS", 1 / 50),
)


@dataclass(frozen=True)
class PipelineTiming:
    method: str
    lecture: str
    lecture_seconds: float
    seconds: float  # measured here, or extrapolated from a timed sample (``how`` says which)
    how: str


def _median_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_pipelines(classifier, image: np.ndarray, proposal_seconds: float, proposals: int = 2000,
                   detectors: Sequence[tuple[str, Callable[[np.ndarray], object]]] = (), crops_timed: int = 8,
                   on_progress: Callable[[float, str], None] | None = None) -> list[PipelineTiming]:
    """The three region-based designs rebuilt from this app's parts and timed on ``image``.

    R-CNN: every proposal warped to 224×224 and run through MobileNetV2 (``crops_timed`` of them
    are timed, the rest extrapolated); Fast R-CNN: one MobileNetV2 pass on the whole picture, then
    RoIAlign of all ``proposals`` boxes; both pay ``proposal_seconds`` for selective search.
    ``detectors`` (name, detect function) are timed as they are: the app's one- and two-stage models.
    """
    report = on_progress or (lambda fraction, text: None)
    rng = np.random.default_rng(0)
    height, width = image.shape[:2]
    corners = rng.uniform(0, 1, (proposals, 2)) * [width * 0.7, height * 0.7]
    sizes = rng.uniform(0.1, 0.3, (proposals, 2)) * [width, height]
    boxes = np.concatenate([corners, corners + sizes], axis=1)

    report(0.1, "R-CNN: a CNN pass per warped proposal…")
    crop = torch.zeros(crops_timed, 3, 224, 224, device=classifier.device)
    with torch.inference_mode():
        per_crop = _median_seconds(lambda: classifier.network(crop), repeats=2) / crops_timed
    report(0.4, "Fast R-CNN: one pass, then RoIAlign…")
    from torchvision.ops import roi_align as tv_roi_align

    feature_map = mobilenet_features(classifier, image, stride=16)
    whole = _median_seconds(lambda: mobilenet_features(classifier, image, stride=16), repeats=2)
    rois = torch.as_tensor(boxes, dtype=torch.float32, device=feature_map.features.device)
    pool = _median_seconds(lambda: tv_roi_align(feature_map.features, [rois], POOLED, feature_map.spatial_scale, 2, True),
                           repeats=2)
    timings = [
        PipelineTiming("R-CNN (2014)", LECTURE_TIMINGS[0][1], LECTURE_TIMINGS[0][2], proposal_seconds + proposals * per_crop,
                       f"selective search {proposal_seconds:.2f} s + {proposals} × MobileNetV2 on a 224×224 crop "
                       f"({per_crop * 1000:.1f} ms each, {crops_timed} timed, the rest extrapolated)"),
        PipelineTiming("Fast R-CNN (2015)", LECTURE_TIMINGS[1][1], LECTURE_TIMINGS[1][2], proposal_seconds + whole + pool,
                       f"selective search {proposal_seconds:.2f} s + one MobileNetV2 pass on the picture "
                       f"({whole * 1000:.0f} ms) + RoIAlign of {proposals} proposals to 7×7 ({pool * 1000:.0f} ms)"),
    ]
    for index, (name, detect) in enumerate(detectors):
        report(0.6 + 0.4 * index / max(1, len(detectors)), f"{name}…")
        detect(image)  # the first call may build caches
        seconds = _median_seconds(functools.partial(detect, image))
        _, lecture, lecture_seconds = LECTURE_TIMINGS[2] if "R-CNN" in name else LECTURE_TIMINGS[3]
        timings.append(PipelineTiming(name, lecture, lecture_seconds, seconds, "the whole detector, median of 3 runs"))
    report(1.0, "done")
    return timings


# ---------------------------------------------------------------------------------------------
# Drawing the two poolings on the picture

CELL_COLOUR = (200, 200, 200)
BOX_COLOUR = (255, 255, 255)
POOL_COLOUR = (255, 64, 64)
ALIGN_COLOUR = (40, 220, 90)


def _feature_lines(out: np.ndarray, spatial_scale: float, size: tuple[int, int], factor: tuple[float, float]) -> None:
    import cv2

    height, width = out.shape[:2]
    for col in range(size[1] + 1):
        x = round(col / spatial_scale * factor[0])
        cv2.line(out, (x, 0), (x, height), CELL_COLOUR, 1)
    for row in range(size[0] + 1):
        y = round(row / spatial_scale * factor[1])
        cv2.line(out, (0, y), (width, y), CELL_COLOUR, 1)


def draw_roi_pool(picture: np.ndarray, image_size: tuple[int, int], feature_map: FeatureMap, box: Sequence[float]) -> np.ndarray:
    """Feature cells (grey), the proposal (white) and RoI pooling's 7×7 bins on whole cells (red)."""
    import cv2

    from cvdemo.detection.drawing import draw_boxes, shade_box

    factor = (picture.shape[1] / image_size[1], picture.shape[0] / image_size[0])
    scale = feature_map.spatial_scale
    bins = roi_pool_bins(box, scale, feature_map.size)
    read = quantised_box(box, scale, feature_map.size) * [factor[0], factor[1], factor[0], factor[1]]
    out = shade_box(picture, read, POOL_COLOUR, alpha=0.25)
    _feature_lines(out, scale, feature_map.size, factor)
    for r0, r1 in bins.rows:
        for c0, c1 in bins.cols:
            cell = np.array([c0, r0, c1, r1]) / scale * [factor[0], factor[1], factor[0], factor[1]]
            cv2.rectangle(out, (round(cell[0]), round(cell[1])), (round(cell[2]), round(cell[3])), POOL_COLOUR, 2)
    proposal = np.asarray(box, dtype=np.float64) * [factor[0], factor[1], factor[0], factor[1]]
    return draw_boxes(out, proposal[None], [BOX_COLOUR], thickness=2, copy=False)


def draw_roi_align(picture: np.ndarray, image_size: tuple[int, int], feature_map: FeatureMap, box: Sequence[float],
                   sampling_ratio: int = 2) -> np.ndarray:
    """Feature cells (grey), the proposal (white), RoIAlign's exact 7×7 bins and its sample points (green)."""
    import cv2

    from cvdemo.detection.drawing import draw_boxes

    factor = (picture.shape[1] / image_size[1], picture.shape[0] / image_size[0])
    scale = feature_map.spatial_scale
    out = np.ascontiguousarray(picture.copy())
    _feature_lines(out, scale, feature_map.size, factor)
    x1, y1, x2, y2 = (float(v) for v in box)
    for k in range(1, POOLED):
        x = round((x1 + k * (x2 - x1) / POOLED) * factor[0])
        y = round((y1 + k * (y2 - y1) / POOLED) * factor[1])
        cv2.line(out, (x, round(y1 * factor[1])), (x, round(y2 * factor[1])), ALIGN_COLOUR, 1)
        cv2.line(out, (round(x1 * factor[0]), y), (round(x2 * factor[0]), y), ALIGN_COLOUR, 1)
    ys, xs = roi_align_points(box, scale, POOLED, sampling_ratio, aligned=True)
    # aligned=True shifted the box by half a cell into sample space; shift back to draw in pixels
    radius = max(1, round(min(picture.shape[:2]) / 250))
    for y in ys.ravel():
        for x in xs.ravel():
            cv2.circle(out, (round((x + 0.5) / scale * factor[0]), round((y + 0.5) / scale * factor[1])), radius,
                       ALIGN_COLOUR, -1)
    proposal = np.asarray(box, dtype=np.float64) * [factor[0], factor[1], factor[0], factor[1]]
    return draw_boxes(out, proposal[None], [BOX_COLOUR], thickness=2, copy=False)
