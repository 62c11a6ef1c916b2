"""Verification metrics over a labelled set of descriptors: distance sets, ROC, FAR/FRR, PCA.

Vocabulary: a *genuine* pair is two faces of the same person, an *impostor* pair two different
people. At threshold t a pair is accepted when d < t (dlib's rule), so

* false accept rate FAR(t) = impostor pairs accepted / impostor pairs,
* false reject rate FRR(t) = genuine pairs rejected / genuine pairs,
* the ROC curve traces (FAR, 1 − FRR) as t sweeps from 0 to beyond the largest distance.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class PairSets:
    genuine: np.ndarray  # distances of same-person pairs
    impostor: np.ndarray  # distances of different-person pairs
    genuine_pairs: list[tuple[int, int]]
    impostor_pairs: list[tuple[int, int]]


def pair_distances(descriptors: np.ndarray, labels: list[str]) -> PairSets:
    descriptors = np.asarray(descriptors, dtype=np.float64)
    if len(descriptors) != len(labels):
        raise ValueError(f"{len(descriptors)} descriptors but {len(labels)} labels")
    genuine, impostor, gp, ip = [], [], [], []
    for i, j in itertools.combinations(range(len(labels)), 2):
        d = float(np.linalg.norm(descriptors[i] - descriptors[j]))
        if labels[i] == labels[j]:
            genuine.append(d)
            gp.append((i, j))
        else:
            impostor.append(d)
            ip.append((i, j))
    return PairSets(np.asarray(genuine), np.asarray(impostor), gp, ip)


@dataclass
class Rates:
    threshold: float
    far: float  # NaN when there are no impostor pairs
    frr: float  # NaN when there are no genuine pairs
    false_accepts: int
    false_rejects: int
    impostors: int
    genuines: int


def rates_at(threshold: float, genuine: np.ndarray, impostor: np.ndarray) -> Rates:
    genuine, impostor = np.asarray(genuine), np.asarray(impostor)
    fa = int((impostor < threshold).sum())
    fr = int((genuine >= threshold).sum())
    far = fa / len(impostor) if len(impostor) else float("nan")
    frr = fr / len(genuine) if len(genuine) else float("nan")
    return Rates(float(threshold), far, frr, fa, fr, len(impostor), len(genuine))


@dataclass
class Roc:
    thresholds: np.ndarray
    far: np.ndarray
    tar: np.ndarray  # true accept rate = 1 − FRR

    @property
    def auc(self) -> float:
        order = np.argsort(self.far, kind="stable")
        far, tar = self.far[order], self.tar[order]
        return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))

    def equal_error_rate(self) -> tuple[float, float]:
        """(EER, threshold) where FAR and FRR cross (the closest sampled threshold)."""
        frr = 1 - self.tar
        i = int(np.argmin(np.abs(self.far - frr)))
        return float((self.far[i] + frr[i]) / 2), float(self.thresholds[i])


def roc_curve(genuine: np.ndarray, impostor: np.ndarray) -> Roc:
    """Exact ROC: one point per distinct distance, plus both ends (nothing / everything accepted)."""
    genuine, impostor = np.asarray(genuine, np.float64), np.asarray(impostor, np.float64)
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("an ROC curve needs at least one same-person pair and one different-person pair")
    values = np.unique(np.concatenate([genuine, impostor]))
    # Accepting d < t: thresholds just above each distinct distance switch that pair to accepted.
    thresholds = np.concatenate([[0.0], np.nextafter(values, np.inf)])
    far = np.array([(impostor < t).mean() for t in thresholds])
    tar = np.array([(genuine < t).mean() for t in thresholds])
    return Roc(thresholds, far, tar)


@dataclass
class Projection:
    points: np.ndarray  # (N, 2)
    explained: tuple[float, float]  # fraction of variance along each axis
    mean: np.ndarray
    axes: np.ndarray  # (2, D)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return (np.asarray(vectors, np.float64) - self.mean) @ self.axes.T


def pca_2d(descriptors: np.ndarray) -> Projection:
    x = np.asarray(descriptors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError("PCA needs at least two descriptors")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    variance = s ** 2
    total = variance.sum() or 1.0
    axes = vt[:2]
    if axes.shape[0] < 2:  # two points span one direction; the second axis is arbitrary and empty
        axes = np.vstack([axes, np.zeros_like(axes[0])])
    first, second = (float(v / total) for v in np.pad(variance, (0, 2))[:2])
    return Projection((x - mean) @ axes.T, (first, second), mean, axes)
