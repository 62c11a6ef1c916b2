"""Distances and similarities between face descriptors, compared as the lectures list them.

Distances (low = same person): the L2 norm of the difference (Euclidean), its square (the form
the slide writes, ‖f(xᵢ) − f(xⱼ)‖₂²) and the L1 norm (city-block). Similarities (high = same
person): the dot product f(xᵢ)ᵀf(xⱼ), the cosine f(xᵢ)·f(xⱼ)/(‖f(xᵢ)‖‖f(xⱼ)‖) with its arc
cosine (the angle, a distance) and the radial basis function exp(−‖xᵢ − xⱼ‖²/σ²).

For each measure the same ROC machinery as the metric view applies: it only needs a
*dissimilarity*, so similarities are negated. Metric axioms (identity, symmetry, the triangle
inequality) and the kernel property (a positive semi-definite Gram matrix) are checked on the
actual descriptors, not assumed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cvdemo.faces import metrics


@dataclass(frozen=True)
class Measure:
    name: str
    formula: str
    kind: str  # "distance" (low = same) or "similarity" (high = same)
    matrix: Callable[[np.ndarray, float], np.ndarray]  # (N, D) descriptors, σ → (N, N)


def _l2(x: np.ndarray, _sigma: float) -> np.ndarray:
    return np.sqrt(_squared(x, _sigma))


def _squared(x: np.ndarray, _sigma: float) -> np.ndarray:
    difference = x[:, None, :] - x[None, :, :]
    return np.einsum("ijk,ijk->ij", difference, difference)


def _l1(x: np.ndarray, _sigma: float) -> np.ndarray:
    return np.abs(x[:, None, :] - x[None, :, :]).sum(-1)


def _dot(x: np.ndarray, _sigma: float) -> np.ndarray:
    return x @ x.T


def _cosine(x: np.ndarray, _sigma: float) -> np.ndarray:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    return unit @ unit.T


def _angle(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.arccos(np.clip(_cosine(x, sigma), -1.0, 1.0))


def _rbf(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-_squared(x, sigma) / sigma ** 2)


MEASURES = {m.name: m for m in (
    Measure("L2 (Euclidean)", "‖f(xᵢ) − f(xⱼ)‖₂", "distance", _l2),
    Measure("squared L2", "‖f(xᵢ) − f(xⱼ)‖₂²", "distance", _squared),
    Measure("L1 (city-block)", "|f(xᵢ) − f(xⱼ)|₁", "distance", _l1),
    Measure("dot product", "f(xᵢ)ᵀ f(xⱼ)", "similarity", _dot),
    Measure("cosine", "f(xᵢ)·f(xⱼ) / (‖f(xᵢ)‖ ‖f(xⱼ)‖)", "similarity", _cosine),
    Measure("arc cosine (angle)", "arccos of the cosine, in radians", "distance", _angle),
    Measure("RBF", "exp(−‖f(xᵢ) − f(xⱼ)‖² / σ²)", "similarity", _rbf),
)}


def pairwise(name: str, descriptors: np.ndarray, sigma: float = 0.6) -> np.ndarray:
    """(N, N) values of one measure; the diagonal is each descriptor with itself."""
    x = np.asarray(descriptors, np.float64)
    if x.ndim != 2 or len(x) < 1:
        raise ValueError("descriptors must be an (N, D) array with N ≥ 1")
    if sigma <= 0:
        raise ValueError("σ must be positive")
    return MEASURES[name].matrix(x, sigma)


def dissimilarity(name: str, values: np.ndarray) -> np.ndarray:
    """Low = same person, for any measure (similarities negated)."""
    return values if MEASURES[name].kind == "distance" else -values


@dataclass
class MeasureReport:
    name: str
    genuine: np.ndarray  # values of same-person pairs (the measure's own scale)
    impostor: np.ndarray
    roc: metrics.Roc  # on the dissimilarity
    eer: float
    eer_threshold: float  # on the measure's own scale
    # Axioms of a distance, on the dissimilarity (similarities as 1 − s for cosine/RBF, −s for the dot product):
    zero_self: bool  # d(x, x) = 0 for every descriptor
    non_negative: bool
    largest_asymmetry: float  # max |d(a, b) − d(b, a)|: entry (a, b) is computed from (a, b), (b, a) from (b, a)
    triangle_checked: int  # ordered triples (a, b, c), all distinct
    triangle_violations: int  # d(a, c) > d(a, b) + d(b, c)
    worst_triangle: tuple[int, int, int] | None
    gram_min_eigenvalue: float | None  # similarities: ≥ 0 (up to rounding) for a positive semi-definite kernel
    tolerance: float  # float rounding allowed in every check

    @property
    def auc(self) -> float:
        return self.roc.auc

    @property
    def is_metric(self) -> bool:
        return self.zero_self and self.non_negative and self.symmetric and self.triangle_violations == 0

    @property
    def symmetric(self) -> bool:
        return self.largest_asymmetry <= self.tolerance


def axiom_form(name: str, values: np.ndarray) -> np.ndarray:
    """The dissimilarity whose axioms are checked: a distance as is; 1 − s for similarities that
    equal 1 on identical inputs (cosine, RBF); −s for the dot product."""
    if MEASURES[name].kind == "distance":
        return values
    return -values if name == "dot product" else 1.0 - values


def rounding_tolerance(name: str, values: np.ndarray) -> float:
    """Float64 rounding of sums of 128 products: a few units in the last place of the largest
    value. The angle is arccos of a cosine, and arccos(1 − ε) ≈ √(2ε) turns that rounding into
    its square root."""
    tolerance = 64 * np.finfo(np.float64).eps * max(float(np.abs(values).max()), 1.0)
    return float(np.sqrt(2 * tolerance)) if name == "arc cosine (angle)" else tolerance


def report(name: str, descriptors: np.ndarray, labels: list[str], sigma: float = 0.6) -> MeasureReport:
    values = pairwise(name, descriptors, sigma)
    n = len(labels)
    genuine = np.array([values[i, j] for i, j in itertools.combinations(range(n), 2) if labels[i] == labels[j]])
    impostor = np.array([values[i, j] for i, j in itertools.combinations(range(n), 2) if labels[i] != labels[j]])
    sign = 1.0 if MEASURES[name].kind == "distance" else -1.0
    roc = metrics.roc_curve(sign * genuine, sign * impostor)
    eer, threshold = roc.equal_error_rate()
    d = axiom_form(name, values)
    tolerance = rounding_tolerance(name, values)
    violations, checked, worst, worst_excess = 0, 0, None, 0.0
    for a, b, c in itertools.permutations(range(n), 3):
        checked += 1
        excess = d[a, c] - (d[a, b] + d[b, c])
        if excess > tolerance:
            violations += 1
            if excess > worst_excess:
                worst, worst_excess = (a, b, c), excess
    gram = None
    if MEASURES[name].kind == "similarity":
        gram = float(np.linalg.eigvalsh((values + values.T) / 2).min())
    return MeasureReport(name, genuine, impostor, roc, eer, sign * threshold,
                         bool(np.all(np.abs(np.diag(d)) <= tolerance)), bool(np.all(d >= -tolerance)),
                         float(np.abs(d - d.T).max()), checked, violations, worst, gram, tolerance)


def default_sigma(descriptors: np.ndarray) -> float:
    """σ for the RBF: the median pairwise L2 distance, so that a typical pair scores e⁻¹."""
    values = _l2(np.asarray(descriptors, np.float64), 1.0)
    upper = values[np.triu_indices(len(values), 1)]
    return float(np.median(upper)) if len(upper) else 0.6


def roc_figure(reports: list[MeasureReport]):
    """One ROC curve per measure."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for r in reports:
        figure.add_scatter(x=r.roc.far, y=r.roc.tar, mode="lines", line_shape="hv",
                           name=f"{r.name}: AUC {r.auc:.3f}, EER {r.eer:.1%}")
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"), name="chance", hoverinfo="skip")
    figure.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10), title="ROC per measure on the gallery's pairs",
                         xaxis=dict(title="false accept rate", range=[-0.02, 1.02]),
                         yaxis=dict(title="true accept rate (1 − FRR)", range=[-0.02, 1.02]),
                         legend=dict(orientation="h", yanchor="top", y=-0.2))
    return figure
