"""OverFeat-style localisation: a box regressed at every location of a convolutional feature map.

Sermanet et al. (2013) kept the classifier's convolutional layers fixed and trained a second head,
with an ℓ2 loss, to predict the object's box from the features at each location of a coarse grid;
the boxes of the locations the classifier is confident about are then merged. Here the frozen
layers are MobileNetV2's (7×7 cells of 32 pixels at 224×224) and the regression head is a ridge
regression fitted in closed form, in seconds, on pictures the app composes: the user's object
pasted at random places and sizes onto textures, so that every training box is known exactly. The
classification head is fitted the same way, for one class: object or background, per cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

SIDE = 224  # MobileNetV2's input: 7×7 cells of 32 pixels
STRIDE = 32


def _textures() -> list[np.ndarray]:
    from skimage import data

    return [np.repeat(getattr(data, name)()[..., None], 3, axis=2) for name in ("grass", "gravel", "brick")]


@dataclass
class Composites:
    images: np.ndarray  # (N, SIDE, SIDE, 3) uint8
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 in pixels


def compose(obj: np.ndarray, count: int, seed: int = 0) -> Composites:
    """``count`` pictures of ``obj`` (an RGB crop) pasted at a random place and scale (its longer
    side 35–80 % of the picture) on a random 224×224 patch of a random texture."""
    import cv2

    rng = np.random.default_rng(seed)
    textures = _textures()
    images, boxes = np.empty((count, SIDE, SIDE, 3), np.uint8), np.empty((count, 4))
    for index in range(count):
        texture = textures[rng.integers(len(textures))]
        top, left = rng.integers(0, texture.shape[0] - SIDE), rng.integers(0, texture.shape[1] - SIDE)
        canvas = texture[top:top + SIDE, left:left + SIDE].copy()
        scale = rng.uniform(0.35, 0.8) * SIDE / max(obj.shape[:2])
        h, w = max(8, round(obj.shape[0] * scale)), max(8, round(obj.shape[1] * scale))
        y, x = rng.integers(0, SIDE - h + 1), rng.integers(0, SIDE - w + 1)
        canvas[y:y + h, x:x + w] = cv2.resize(obj, (w, h), interpolation=cv2.INTER_AREA)
        images[index], boxes[index] = canvas, (x, y, x + w, y + h)
    return Composites(images, boxes)


def features(classifier, images: np.ndarray, batch: int = 16, on_progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """MobileNetV2's last feature map for 224×224 pictures: ``(N, 1280, 7, 7)``."""
    from cvdemo.images import to_tensor

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            tensor = torch.stack([to_tensor(image, classifier.device) for image in images[start:start + batch]])
            tensor = (tensor.float() / 255.0 - classifier.mean) / classifier.std
            chunks.append(classifier.network.features(tensor).float().cpu())
            if on_progress is not None:
                on_progress(min(1.0, (start + batch) / len(images)))
    return torch.cat(chunks)


def cell_centres() -> np.ndarray:
    """``(49, 2)``: x, y of each cell's centre, row by row."""
    cells = (np.arange(SIDE // STRIDE) + 0.5) * STRIDE
    xs, ys = np.meshgrid(cells, cells)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _design(maps: torch.Tensor) -> np.ndarray:
    """One row per (picture, cell): the cell's 1280 features and a constant 1."""
    rows = maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1]).numpy().astype(np.float64)
    return np.hstack([rows, np.ones((len(rows), 1))])


def _targets(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (picture, cell): the box's edges relative to the cell centre, in cells; and whether the
    cell's centre lies inside the box (OverFeat trains a location only where it sees the object)."""
    centres = np.tile(cell_centres(), (len(boxes), 1))
    repeated = np.repeat(boxes, len(cell_centres()), axis=0)
    offsets = (repeated - np.hstack([centres, centres])) / STRIDE
    inside = ((centres[:, 0] >= repeated[:, 0]) & (centres[:, 0] <= repeated[:, 2])
              & (centres[:, 1] >= repeated[:, 1]) & (centres[:, 1] <= repeated[:, 3]))
    return offsets, inside


@dataclass
class Regressor:
    weights: np.ndarray  # (1281, 4)
    ridge: float
    training_cells: int

    def predict(self, maps: torch.Tensor) -> np.ndarray:
        """``(N, 49, 4)`` boxes, one per cell, in pixels."""
        offsets = _design(maps) @ self.weights
        centres = np.tile(cell_centres(), (maps.shape[0], 1))
        return (offsets * STRIDE + np.hstack([centres, centres])).reshape(maps.shape[0], -1, 4)


def fit_regressor(maps: torch.Tensor, boxes: np.ndarray, ridge: float = 10.0) -> Regressor:
    """Least squares with an ℓ2 penalty, ``W = (XᵀX + λI)⁻¹ XᵀY``, on the cells inside the box
    (the constant column is not penalised)."""
    design = _design(maps)
    offsets, inside = _targets(boxes)
    x, y = design[inside], offsets[inside]
    penalty = ridge * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    return Regressor(np.linalg.solve(x.T @ x + penalty, x.T @ y), ridge, int(inside.sum()))


@dataclass
class ObjectHead:
    """OverFeat's other head, for one class: a linear score per cell, 1 where the cell's centre is
    on the object and 0 on the background, fitted the same way (ridge, in closed form)."""

    weights: np.ndarray  # (1281,)

    def confidence(self, maps: torch.Tensor) -> np.ndarray:
        """``(N, 49)`` in [0, 1]."""
        return np.clip(_design(maps) @ self.weights, 0.0, 1.0).reshape(maps.shape[0], -1)


def fit_object_head(maps: torch.Tensor, boxes: np.ndarray, ridge: float = 100.0) -> ObjectHead:
    design = _design(maps)
    _, inside = _targets(boxes)
    penalty = ridge * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0
    return ObjectHead(np.linalg.solve(design.T @ design + penalty, design.T @ inside.astype(np.float64)))


def merge(boxes: np.ndarray, confidence: np.ndarray, keep: float = 0.5) -> np.ndarray:
    """One box from the cells' boxes: the confidence-weighted mean of the cells within ``keep`` of
    the best cell's confidence."""
    chosen = confidence >= keep * confidence.max()
    weights = confidence[chosen] / confidence[chosen].sum()
    return (boxes[chosen] * weights[:, None]).sum(axis=0)




@dataclass
class Localisation:
    regressor: Regressor
    object_head: ObjectHead
    test: Composites
    predicted: np.ndarray  # (N, 49, 4) every cell's box on the held-out pictures
    confidence: np.ndarray  # (N, 49)
    merged: np.ndarray  # (N, 4)
    iou: np.ndarray  # (N,) merged box vs truth
    whole_picture_iou: np.ndarray  # (N,) the baseline of answering "the whole picture"


def train_and_test(classifier, obj: np.ndarray, train_count: int = 48, test_count: int = 12, ridge: float = 100.0,
                   on_progress: Callable[[float, str], None] | None = None) -> Localisation:
    """Compose pictures of ``obj``, fit the regression head on some, localise the others."""
    from cvdemo.detection.boxes import iou_matrix

    report = on_progress or (lambda fraction, text: None)
    train, test = compose(obj, train_count, seed=0), compose(obj, test_count, seed=1)
    total = train_count + test_count
    report(0.0, f"MobileNetV2 features of {total} composed pictures…")
    train_maps = features(classifier, train.images, on_progress=lambda f: report(0.9 * f * train_count / total, "features…"))
    test_maps = features(classifier, test.images)
    report(0.95, "fitting the regression head…")
    regressor, object_head = fit_regressor(train_maps, train.boxes, ridge), fit_object_head(train_maps, train.boxes, ridge)
    predicted, confidence = regressor.predict(test_maps), object_head.confidence(test_maps)
    merged = np.array([merge(p, c) for p, c in zip(predicted, confidence)])
    whole = np.array([0.0, 0.0, SIDE, SIDE])
    iou = np.array([iou_matrix(m[None], b[None])[0, 0] for m, b in zip(merged, test.boxes)])
    baseline = np.array([iou_matrix(whole[None], b[None])[0, 0] for b in test.boxes])
    report(1.0, "done")
    return Localisation(regressor, object_head, test, predicted, confidence, merged, iou, baseline)


def draw_localisation(image: np.ndarray, boxes: np.ndarray, confidence: np.ndarray, merged: np.ndarray,
                      truth: np.ndarray | None = None) -> np.ndarray:
    """Every cell's box (faint, brighter with confidence), the merged box (thick, cyan) and the truth (white)."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    overlay = out.copy()
    for box, value in sorted(zip(boxes, confidence / max(confidence.max(), 1e-12)), key=lambda pair: pair[1]):
        if value >= 0.05:
            x1, y1, x2, y2 = (round(float(v)) for v in box)
            cv2.rectangle(overlay, (x1, y1), (x2, y2), (255, round(255 * (1 - value)), 0), 1)
    out = cv2.addWeighted(overlay, 0.7, out, 0.3, 0)
    if truth is not None:
        x1, y1, x2, y2 = (round(float(v)) for v in truth)
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 255, 255), 2)
    x1, y1, x2, y2 = (round(float(v)) for v in merged)
    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 230, 255), 3)
    return out
