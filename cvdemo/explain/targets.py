"""What can be explained: a *subject* bundles a differentiable score function with its input.

* an image classifier (ImageNet models, the emotion classifier on a face crop): ``(N, classes)``
  logits, the target is a class index (labels come from the weights' metadata);
* a detection: the score of one detected box's class *at the cell that produced the box* — a
  single differentiable number read from the detector's raw head output;
* face verification: the distance between a chip's embedding and a reference chip's embedding
  (target None: one scalar per item).

Pages and the command line build subjects here and hand ``subject.model`` / ``subject.inputs`` to
:func:`cvdemo.explain.attribute`. Nothing here changes the shared models: score functions are small
wrapper modules around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvdemo.explain.core import AttributionError

# ---------------------------------------------------------------------------------------------
# The subject


@dataclass
class Subject:
    kind: str  # "classifier", "detection", "verification"
    title: str
    model: Any  # nn.Module or callable: (N, C, H, W) -> (N, K) scores or (N,) scalars
    inputs: torch.Tensor  # (1, C, H, W), on the model's device
    image: np.ndarray  # H×W×3 uint8: what the network sees, to draw maps over
    categories: tuple[str, ...] | None = None
    probabilities: np.ndarray | None = None
    default_target: int | None = None
    input_bounds: tuple[torch.Tensor, torch.Tensor] | None = None  # for LRP's box rule
    # What red means, completing "Red: …" (see cvdemo.colormaps.legend); blue means the opposite.
    for_target: str = "evidence for the target class"
    against_target: str = "evidence against it"
    notes: list[str] = field(default_factory=list)
    # The map shown first. A detection's score comes from one cell, and Grad-CAM's grid-wide mean
    # gradient often cancels out there (a flat map); LayerCAM weighs each position by its own gradient.
    first_method: str = "gradcam"
    layer_grid: tuple[int, int] | None = None  # a detection: the grid of the head level its box came from
    head_grids: tuple[tuple[int, int], ...] = ()  # a detector's head level grids (to name its layers)

    def legend(self, signed: bool = True, target: int | None = None) -> str:
        """What the colours of a map mean for this subject (and class ``target``), in words."""
        from cvdemo.colormaps import legend

        if self.categories is not None and target is not None:
            return legend(signed, f"evidence for “{self.target_name(target)}”", "evidence against it")
        return legend(signed, self.for_target, self.against_target)

    @property
    def scalar(self) -> bool:
        return self.categories is None

    def top(self, k: int = 5) -> list[tuple[str, float, int]]:
        if self.probabilities is None or self.categories is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.categories[i], float(self.probabilities[i]), int(i)) for i in order]

    def target_name(self, target: int | None) -> str:
        if target is None or self.categories is None:
            return self.title
        return self.categories[int(target)]


def parse_target(spec: str | int | None, categories: Sequence[str] | None, probabilities: np.ndarray | None = None) -> int | None:
    """A class index from ``3``, ``"3"``, ``"tabby"`` (exact, case-insensitive, or a unique part of a
    name), ``"top1"`` … ``"top5"``; None for scalar subjects."""
    if categories is None:
        if spec not in (None, "", "top1", "none", "None"):
            raise AttributionError("this subject is one number (no classes): leave the target out")
        return None
    if spec is None:
        spec = "top1"
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(categories):
            raise AttributionError(f"class index {index} is out of range (0…{len(categories) - 1})")
        return index
    lowered = text.lower()
    if lowered.startswith("top") and lowered[3:].isdigit():
        rank = int(lowered[3:])
        if probabilities is None:
            raise AttributionError(f"{text} needs the model's scores")
        if not 1 <= rank <= len(categories):
            raise AttributionError(f"{text}: there are {len(categories)} classes")
        return int(np.argsort(-np.asarray(probabilities), kind="stable")[rank - 1])
    exact = [i for i, name in enumerate(categories) if name.lower() == lowered]
    if exact:
        return exact[0]
    partial = [i for i, name in enumerate(categories) if lowered in name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(repr(categories[i]) for i in partial[:8])
        raise AttributionError(f"{text!r} matches several classes ({names}{'…' if len(partial) > 8 else ''}); be more specific")
    raise AttributionError(f"no class is called {text!r}")


def _display(inputs: torch.Tensor, mean=None, std=None) -> np.ndarray:
    """The network input back as an RGB picture (undoing the normalisation when it is known)."""
    x = inputs[0].detach().float().cpu()
    if mean is not None and std is not None:
        x = x * torch.as_tensor(std).view(-1, 1, 1).cpu() + torch.as_tensor(mean).view(-1, 1, 1).cpu()
    else:
        low, high = float(x.min()), float(x.max())
        x = (x - low) / max(high - low, 1e-8)
    x = x.clamp(0, 1)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return (x.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Classifiers


def classifier_subject(classifier, image: np.ndarray, title: str = "") -> Subject:
    """Any ImageClassifier wrapper (``network``, ``preprocess``, ``categories``)."""
    inputs = classifier.preprocess(image).detach()
    with torch.no_grad():
        logits = classifier.network(inputs)
    probabilities = F.softmax(logits.float(), dim=1)[0].cpu().numpy()
    mean, std = getattr(classifier, "mean", None), getattr(classifier, "std", None)
    bounds = None
    if mean is not None and std is not None:
        bounds = ((0.0 - mean) / std, (1.0 - mean) / std)
    elif inputs.shape[1] == 1 and float(inputs.min()) >= -1.0 and float(inputs.max()) <= 1.0:
        bounds = (torch.tensor(-1.0), torch.tensor(1.0))  # grey in [-1, 1] (the emotion model)
    return Subject("classifier", title or type(classifier).__name__, classifier.network, inputs,
                   network_view(classifier, inputs), tuple(classifier.categories), probabilities,
                   int(np.argmax(probabilities)), bounds)


def network_view(classifier, inputs: torch.Tensor) -> np.ndarray:
    """What the classifier sees: its preprocessed input as an RGB picture."""
    return _display(inputs, getattr(classifier, "mean", None), getattr(classifier, "std", None))


def face_crop(image: np.ndarray, detector=None, box: Sequence[float] | None = None, margin: float = 0.25
              ) -> tuple[np.ndarray, tuple[int, int, int, int] | None, str]:
    """A square crop around the largest face (MTCNN when given), a user box, or the whole image.

    Returns the crop, the square box used (x1, y1, x2, y2) or None, and a note for the user.
    """
    height, width = image.shape[:2]
    note = ""
    if box is None and detector is not None:
        result = detector.run(image)
        if len(result.boxes):
            areas = (result.boxes[:, 2] - result.boxes[:, 0]) * (result.boxes[:, 3] - result.boxes[:, 1])
            box = result.boxes[int(np.argmax(areas))]
            note = f"{len(result.boxes)} face(s) found by MTCNN; using the largest."
        else:
            note = "MTCNN found no face: using the whole image. Draw a square around the face instead."
    if box is None:
        return image, None, note or "Using the whole image (no face detector): crop to the face for a sensible result."
    x1, y1, x2, y2 = [float(v) for v in box]
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = min(side, width, height)
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    side = int(round(side))
    return image[top:top + side, left:left + side], (left, top, left + side, top + side), note


# ---------------------------------------------------------------------------------------------
# Detections


class AnchorScore(nn.Module):
    """One class score of one cell of a dense detection head: ``head(x)[output][:, *index]``."""

    head_grid: tuple[int, int] | None = None  # the explained cell's level grid (read by cvdemo.explain.layers)

    def __init__(self, network: nn.Module, output: int, index: tuple[int, ...]):
        super().__init__()
        self.network, self.output, self.index = network, output, tuple(int(i) for i in index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)[self.output]
        return out[(slice(None),) + self.index]


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1 = np.maximum(boxes[:, 0], box[0])
    y1 = np.maximum(boxes[:, 1], box[1])
    x2 = np.minimum(boxes[:, 2], box[2])
    y2 = np.minimum(boxes[:, 3], box[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area_b = (box[2] - box[0]) * (box[3] - box[1])
    return inter / np.maximum(area + area_b - inter, 1e-9)


def detection_subject(detector, image: np.ndarray, box: Sequence[float], label: int, score: float) -> Subject:
    """The score of ``label`` at the head cell whose prediction is this detection's box.

    Supported heads: NanoDet-style (``scores (N, anchors, classes)`` + ``decode_boxes``) and
    CenterNet-style (``heatmap (N, classes, h, w)`` + per-cell edge distances). The cell is the one
    whose decoded box for that class matches the detection best (IoU and score).
    """
    tensor, letterbox = detector.preprocess(image)
    box_net = np.asarray(box, dtype=np.float64) * letterbox.scale + np.array(
        [letterbox.pad_x, letterbox.pad_y, letterbox.pad_x, letterbox.pad_y])
    with torch.no_grad():
        raw = detector.network(tensor)
    name = detector.categories[label]
    if hasattr(detector, "decode_boxes"):  # NanoDet: (scores (N, A, C), distributions)
        scores = raw[0][0].float()
        boxes = detector.decode_boxes(raw[1][0].float()).cpu().numpy()
        class_scores = scores[:, label].cpu().numpy()
        cost = np.abs(class_scores - score) + (1.0 - _iou(boxes, box_net))
        anchor = int(np.argmin(np.where(class_scores >= 0.01, cost, np.inf)))
        model = AnchorScore(detector.network, 0, (anchor, label))
        sizes, strides = detector.network.level_sizes, detector.network.strides
        level = int(np.searchsorted(np.cumsum([size * size for size in sizes]), anchor, side="right"))
        grid, head_grids = (sizes[level], sizes[level]), tuple((size, size) for size in sizes)
        first = int(sum(size * size for size in sizes[:level]))
        y, x = divmod(anchor - first, sizes[level])
        where = f"cell ({y}, {x}) of the stride {strides[level]} head, {sizes[level]}×{sizes[level]}"
    elif hasattr(detector, "decode"):  # CenterNet: (heatmap (N, C, h, w), sizes (N, 4, h, w))
        heatmap, sizes = raw[0][0].float(), raw[1][0].float()
        height, width = heatmap.shape[-2:]
        stride = detector.network.stride
        ys, xs = np.mgrid[0:height, 0:width]
        edges = sizes.cpu().numpy().reshape(4, -1)
        cells = np.stack([xs.ravel() * stride - edges[0], ys.ravel() * stride - edges[1],
                          xs.ravel() * stride + edges[2], ys.ravel() * stride + edges[3]], axis=1)
        class_scores = heatmap[label].cpu().numpy().ravel()
        cost = np.abs(class_scores - score) + (1.0 - _iou(cells, box_net))
        cell = int(np.argmin(np.where(class_scores >= 0.01, cost, np.inf)))
        y, x = divmod(cell, width)
        model = AnchorScore(detector.network, 0, (label, y, x))
        grid = (int(height), int(width))
        head_grids = (grid,)
        where = f"heat-map cell ({y}, {x}) of the stride {stride} head, {height}×{width}"
    else:
        raise AttributionError(f"{type(detector).__name__}'s raw output is not a head this page knows how to read")
    model.head_grid = grid  # layer methods default to this level's head (cvdemo.explain.layers)
    with torch.no_grad():
        value = float(model(tensor)[0])
    subject = Subject("detection", f"{name} score at {where}", model, tensor.detach(), _display(tensor), None, None, None,
                      (torch.zeros(1, 3, 1, 1, device=tensor.device), torch.ones(1, 3, 1, 1, device=tensor.device)),
                      for_target=f"raises the {name} score of this box", against_target="lowers it",
                      first_method="layercam", layer_grid=grid, head_grids=head_grids)
    subject.notes.append(f"Explaining the {name} score {value:.3f} of the selected box ({where}); the map is over the "
                         "letterboxed network input.")
    return subject


# ---------------------------------------------------------------------------------------------
# Face verification


def verification_subject(embedder, chip: np.ndarray, reference_chip: np.ndarray, threshold: float = 0.6) -> Subject:
    """Explain how alike two aligned face chips are: the score is −distance between their
    descriptors (dlib ResNet style embedder), as on the Face verification page, so red means the
    same there and here: evidence for the match."""
    from cvdemo.colormaps import FACE_MATCH_AGAINST, FACE_MATCH_FOR
    from cvdemo.faces.why import SimilarityToReference

    inputs = embedder.preprocess(chip[None]).detach()
    reference = torch.as_tensor(embedder.embed(reference_chip[None])[0], device=inputs.device)
    model = SimilarityToReference(embedder.network, reference).to(inputs.device).eval()
    with torch.no_grad():
        distance = -float(model(inputs)[0])
    verdict = "same person" if distance < threshold else "different people"
    subject = Subject("verification", f"similarity to the reference face (−distance, {-distance:.3f})", model, inputs,
                      chip.copy(), for_target=FACE_MATCH_FOR, against_target=FACE_MATCH_AGAINST)
    subject.notes.append(f"Distance {distance:.3f} (threshold {threshold}: {verdict}). The map explains −distance, "
                         "the similarity: as on the Face verification page.")
    return subject
