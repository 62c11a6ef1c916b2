"""Metric-learning losses on real descriptors: their values and what they ask the network to move.

Siamese training shows the network pairs (contrastive) or triplets (triplet loss) of faces and
moves the embeddings by the loss gradient. Here the gradients are taken with respect to the
*embeddings* (what the loss wants to happen to each face's point in descriptor space); training
would push that further back into the shared weights.

* Contrastive loss (Hadsell, Chopra & LeCun 2006) is *absolute*: same-person pairs are pulled
  together ½·d², different-person pairs are pushed apart until they are ``margin`` away,
  ½·max(0, margin − d)².
* Triplet loss (Schroff et al. 2015, FaceNet) is *relative*: only the order matters,
  max(0, d(a,p) − d(a,n) + margin); FaceNet uses squared distances.
* dlib trained this network with ``loss_metric``: a pairwise hinge around its threshold,
  max(0, d − (t − m)) for same pairs and max(0, (t + m) − d) for different pairs (t = 0.6,
  m = 0.04 in the model file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DLIB_THRESHOLD = 0.6
DLIB_MARGIN = 0.04


def _t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def contrastive_loss(distance: float, same: bool, margin: float = 1.0) -> float:
    d = float(distance)
    return 0.5 * d * d if same else 0.5 * max(0.0, margin - d) ** 2


def triplet_loss(d_ap: float, d_an: float, margin: float = 0.2) -> float:
    return max(0.0, float(d_ap) - float(d_an) + margin)


def dlib_pair_loss(distance: float, same: bool, threshold: float = DLIB_THRESHOLD, margin: float = DLIB_MARGIN) -> float:
    d = float(distance)
    return max(0.0, d - (threshold - margin)) if same else max(0.0, (threshold + margin) - d)


def triplet_kind(d_ap: float, d_an: float, margin: float) -> str:
    """FaceNet's names: which triplets teach anything."""
    if d_an < d_ap:
        return "hard"  # the negative is closer than the positive
    if d_an < d_ap + margin:
        return "semi-hard"  # right order, but inside the margin
    return "easy"  # satisfied with room to spare: zero loss, zero gradient


@dataclass
class Push:
    """What a loss asks of one embedding: the direction it would move (−gradient)."""

    role: str  # "anchor", "positive", "negative"
    gradient: np.ndarray  # dL/d(embedding), 128-D
    description: str

    @property
    def strength(self) -> float:
        return float(np.linalg.norm(self.gradient))


@dataclass
class LossReport:
    name: str
    value: float
    pushes: list[Push]
    summary: str
    distances: dict[str, float]


def _grads(fn, **embeddings) -> tuple[float, dict[str, np.ndarray]]:
    tensors = {k: _t(v).clone().requires_grad_(True) for k, v in embeddings.items()}
    loss = fn(**tensors)
    if loss.requires_grad:
        loss.backward()
    grads = {k: (t.grad.numpy().copy() if t.grad is not None else np.zeros(t.shape)) for k, t in tensors.items()}
    return float(loss.detach()), grads


def contrastive_report(anchor: np.ndarray, other: np.ndarray, same: bool, margin: float = 1.0) -> LossReport:
    def fn(a, b):
        d = torch.linalg.norm(a - b)
        return 0.5 * d ** 2 if same else 0.5 * torch.clamp(margin - d, min=0) ** 2

    value, grads = _grads(fn, a=anchor, b=other)
    d = float(np.linalg.norm(np.asarray(anchor, np.float64) - other))
    role = "positive" if same else "negative"
    if same:
        what = f"pull the pair together (loss ½·d² = {value:.4f} is never zero while d > 0)"
    elif value > 0:
        what = f"push the pair apart until they are {margin:.2f} away (they are {d:.3f})"
    else:
        what = f"nothing: the pair is already farther than the margin {margin:.2f}"
    pushes = [Push("anchor", grads["a"], what), Push(role, grads["b"], what)]
    return LossReport("contrastive", value, pushes, f"Contrastive ({'same' if same else 'different'} pair): {what}.", {f"anchor–{role}": d})


def triplet_report(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, margin: float = 0.2,
                   squared: bool = False) -> LossReport:
    def dist(x, y):
        d2 = ((x - y) ** 2).sum()
        return d2 if squared else torch.sqrt(d2)

    def fn(a, p, n):
        return torch.clamp(dist(a, p) - dist(a, n) + margin, min=0)

    value, grads = _grads(fn, a=anchor, p=positive, n=negative)
    a, p, n = (np.asarray(v, np.float64) for v in (anchor, positive, negative))
    d_ap, d_an = float(np.linalg.norm(a - p)), float(np.linalg.norm(a - n))
    if squared:
        kind = triplet_kind(d_ap ** 2, d_an ** 2, margin)
    else:
        kind = triplet_kind(d_ap, d_an, margin)
    if value > 0:
        summary = (f"{kind} triplet: move the positive toward the anchor and the negative away, until "
                   f"d(a,n) exceeds d(a,p) by the margin {margin:.2f}")
    else:
        summary = "easy triplet: the negative is already farther than the positive by more than the margin, so nothing moves"
    pushes = [
        Push("anchor", grads["a"], "toward the positive, away from the negative" if value > 0 else "stays"),
        Push("positive", grads["p"], "toward the anchor" if value > 0 else "stays"),
        Push("negative", grads["n"], "away from the anchor" if value > 0 else "stays"),
    ]
    return LossReport("triplet", value, pushes, summary.capitalize() + ".", {"anchor–positive": d_ap, "anchor–negative": d_an})


def dlib_pair_report(anchor: np.ndarray, other: np.ndarray, same: bool, threshold: float = DLIB_THRESHOLD,
                     margin: float = DLIB_MARGIN) -> LossReport:
    def fn(a, b):
        d = torch.linalg.norm(a - b)
        return torch.clamp(d - (threshold - margin), min=0) if same else torch.clamp((threshold + margin) - d, min=0)

    value, grads = _grads(fn, a=anchor, b=other)
    d = float(np.linalg.norm(np.asarray(anchor, np.float64) - other))
    role = "positive" if same else "negative"
    target = f"below {threshold - margin:.2f}" if same else f"above {threshold + margin:.2f}"
    what = f"move the pair until its distance is {target}" if value > 0 else f"nothing: the distance {d:.3f} is already {target}"
    return LossReport("dlib loss_metric", value, [Push("anchor", grads["a"], what), Push(role, grads["b"], what)],
                      f"dlib's pairwise hinge: {what}.", {f"anchor–{role}": d})


def gradient_step(embeddings: dict[str, np.ndarray], report: LossReport, learning_rate: float) -> dict[str, np.ndarray]:
    """Embeddings after one plain gradient-descent step on ``report``'s loss (each role moved by
    −lr·∂L/∂e). Training moves the *weights*, which moves all embeddings at once; this shows the
    direction the loss asks for."""
    moved = {role: np.asarray(vector, np.float64).copy() for role, vector in embeddings.items()}
    for push in report.pushes:
        key = push.role
        if key in moved:
            moved[key] = moved[key] - learning_rate * push.gradient
    return moved
