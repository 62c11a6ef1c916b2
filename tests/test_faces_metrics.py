"""Losses, verification metrics and the gallery: small exact cases, no models needed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvdemo.faces import losses, metrics
from cvdemo.faces.gallery import Gallery, GalleryError


def unit(*values) -> np.ndarray:
    vector = np.zeros(128)
    vector[: len(values)] = values
    return vector


# ---------------------------------------------------------------------------------------------- losses


def test_contrastive_loss_values():
    assert losses.contrastive_loss(0.3, same=True) == pytest.approx(0.045)
    assert losses.contrastive_loss(0.3, same=False, margin=1.0) == pytest.approx(0.5 * 0.7 ** 2)
    assert losses.contrastive_loss(1.2, same=False, margin=1.0) == 0.0


def test_triplet_loss_and_kinds():
    assert losses.triplet_loss(0.4, 0.9, margin=0.2) == 0.0
    assert losses.triplet_loss(0.4, 0.5, margin=0.2) == pytest.approx(0.1)
    assert losses.triplet_loss(0.6, 0.5, margin=0.2) == pytest.approx(0.3)
    assert losses.triplet_kind(0.4, 0.9, 0.2) == "easy"
    assert losses.triplet_kind(0.4, 0.5, 0.2) == "semi-hard"
    assert losses.triplet_kind(0.6, 0.5, 0.2) == "hard"


def test_dlib_loss_is_a_hinge_around_the_threshold():
    assert losses.dlib_pair_loss(0.50, True) == 0.0  # below 0.6 − 0.04
    assert losses.dlib_pair_loss(0.60, True) == pytest.approx(0.04)
    assert losses.dlib_pair_loss(0.70, False) == 0.0  # above 0.6 + 0.04
    assert losses.dlib_pair_loss(0.60, False) == pytest.approx(0.04)


def test_triplet_gradients_pull_the_positive_and_push_the_negative():
    a, p, n = unit(0, 0), unit(0.5, 0), unit(0, 0.55)
    report = losses.triplet_report(a, p, n, margin=0.2)
    assert report.value == pytest.approx(0.5 - 0.55 + 0.2)
    grads = {push.role: push.gradient for push in report.pushes}
    # −gradient of the positive points at the anchor, of the negative away from it
    assert np.dot(-grads["positive"], a - p) > 0
    assert np.dot(-grads["negative"], n - a) > 0
    assert np.allclose(grads["anchor"] + grads["positive"] + grads["negative"], 0)  # translation invariance
    moved = losses.gradient_step({"anchor": a, "positive": p, "negative": n}, report, 0.05)
    assert np.linalg.norm(moved["anchor"] - moved["positive"]) < 0.5
    assert np.linalg.norm(moved["anchor"] - moved["negative"]) > 0.55


def test_easy_triplet_moves_nothing():
    report = losses.triplet_report(unit(0, 0), unit(0.2, 0), unit(0, 1.0), margin=0.2)
    assert report.value == 0 and all(push.strength == 0 for push in report.pushes)
    assert "easy" in report.summary.lower()


def test_contrastive_gradients():
    same = losses.contrastive_report(unit(0, 0), unit(0.3, 0), True)
    assert same.value == pytest.approx(0.045)
    assert np.allclose(same.pushes[1].gradient[:2], [0.3, 0])  # ∂(½d²)/∂b = b − a
    far = losses.contrastive_report(unit(0, 0), unit(2.0, 0), False, margin=1.0)
    assert far.value == 0 and far.pushes[0].strength == 0
    near = losses.contrastive_report(unit(0, 0), unit(0.4, 0), False, margin=1.0)
    assert near.pushes[1].gradient[0] < 0  # descending moves the negative further along +x


def test_squared_triplet_uses_squared_distances():
    report = losses.triplet_report(unit(0, 0), unit(0.5, 0), unit(0, 0.6), margin=0.2, squared=True)
    assert report.value == pytest.approx(0.25 - 0.36 + 0.2)


# ---------------------------------------------------------------------------------------------- metrics


def test_pair_distances_split_by_identity():
    d = np.array([unit(0, 0), unit(0.3, 0), unit(1, 0), unit(1, 0.4)])
    pairs = metrics.pair_distances(d, ["a", "a", "b", "b"])
    assert sorted(pairs.genuine.round(3)) == [0.3, 0.4]
    assert len(pairs.impostor) == 4 and pairs.impostor.min() == pytest.approx(0.7)


def test_rates_at_threshold():
    genuine, impostor = np.array([0.3, 0.5, 0.65]), np.array([0.55, 0.8, 0.9, 1.0])
    rates = metrics.rates_at(0.6, genuine, impostor)
    assert (rates.false_accepts, rates.false_rejects) == (1, 1)
    assert rates.far == pytest.approx(0.25) and rates.frr == pytest.approx(1 / 3)


def test_roc_curve_exact_points_and_auc():
    genuine, impostor = np.array([0.2, 0.4]), np.array([0.3, 0.8])
    roc = metrics.roc_curve(genuine, impostor)
    assert (roc.far[0], roc.tar[0]) == (0.0, 0.0) and (roc.far[-1], roc.tar[-1]) == (1.0, 1.0)
    points = set(zip(roc.far.round(3), roc.tar.round(3)))
    assert {(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)} <= points
    assert roc.auc == pytest.approx(0.75)  # 3 of the 4 genuine/impostor pairs are ordered correctly
    separable = metrics.roc_curve(np.array([0.1, 0.2]), np.array([0.7, 0.9]))
    assert separable.auc == pytest.approx(1.0)
    eer, threshold = separable.equal_error_rate()
    assert eer == 0.0 and 0.2 < threshold <= 0.7


def test_roc_needs_both_kinds_of_pairs():
    with pytest.raises(ValueError, match="same-person pair"):
        metrics.roc_curve(np.array([]), np.array([0.5]))


def test_pca_projection_keeps_the_main_direction():
    rng = np.random.default_rng(0)
    points = np.outer(np.linspace(-1, 1, 20), unit(1, 1)) + rng.normal(0, 0.01, (20, 128))
    projection = metrics.pca_2d(points)
    assert projection.explained[0] > 0.95
    assert np.allclose(projection.project(points), projection.points)


# ---------------------------------------------------------------------------------------------- gallery


@pytest.fixture()
def filled() -> Gallery:
    gallery = Gallery()
    gallery.add("Ada", unit(0, 0), np.zeros((150, 150, 3), np.uint8), "ada1.jpg")
    gallery.add("Ada", unit(0.2, 0), None, "ada2.jpg")
    gallery.add("Bob", unit(1, 0))
    return gallery


def test_identify_nearest_enrolment_within_the_threshold(filled):
    hit = filled.identify(unit(0.25, 0), threshold=0.6)
    assert hit.name == "Ada" and hit.distance == pytest.approx(0.05)
    assert list(hit.per_person) == ["Ada", "Bob"]
    miss = filled.identify(unit(0.5, 0.8), threshold=0.6)
    assert miss.name is None and miss.nearest in ("Ada", "Bob") and "unknown" in miss.label()


def test_gallery_roundtrips_through_both_formats(filled):
    for data in (filled.to_json(), filled.to_npz()):
        back = Gallery.from_bytes(data)
        assert back.labels == filled.labels
        assert np.allclose(back.descriptors(), filled.descriptors(), atol=1e-6)
    with_chips = Gallery.from_bytes(filled.to_npz())
    assert with_chips.entries[0].chip.shape == (150, 150, 3) and with_chips.entries[1].chip is None
    assert len(filled.to_json()) < 8_000  # "a small file"


def test_bad_gallery_files_are_explained(filled):
    with pytest.raises(GalleryError, match="empty"):
        Gallery.from_bytes(b"")
    with pytest.raises(GalleryError, match="not a gallery file"):
        Gallery.from_bytes(b"\x89PNG....")
    with pytest.raises(GalleryError, match="not a cvdemo-face-gallery"):
        Gallery.from_bytes(json.dumps({"format": "other"}).encode())
    payload = json.loads(filled.to_json())
    payload["entries"][1]["descriptor"] = [0.0] * 5
    with pytest.raises(GalleryError, match="entry 2"):
        Gallery.from_bytes(json.dumps(payload).encode())
    with pytest.raises(GalleryError, match="not a readable .npz"):
        Gallery.from_bytes(b"PK\x03\x04garbage")


def test_names_are_cleaned_and_required(filled):
    with pytest.raises(GalleryError, match="type a name"):
        filled.add("   ", unit(0))
    entry = filled.add("  Grace   Hopper ", unit(0.1))
    assert entry.name == "Grace Hopper"
    assert filled.remove_person("Ada") == 2 and filled.names() == ["Bob", "Grace Hopper"]
    with pytest.raises(GalleryError, match="empty"):
        Gallery().identify(unit(0))
