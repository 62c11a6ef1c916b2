"""Similarity measures on dlib's real descriptors of the reference faces: values against scipy, ROC against the
Mann–Whitney statistic, the metric axioms and the kernel property, and the view."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu
from streamlit.testing.v1 import AppTest

from cvdemo.faces import golden, similarity
from tests.conftest import ROOT, SHARED


@pytest.fixture(scope="module")
def reference():
    # faces that are faces (the astronaut's mission patch is a dlib false positive); Golden.real_faces was removed
    faces = [f for f in golden.load(SHARED / "facedata").faces if f.identity is not None]
    return np.stack([f.descriptor for f in faces]).astype(np.float64), [f.identity for f in faces]


def test_values_match_scipy_and_the_formulas(reference):
    x, _ = reference
    np.testing.assert_allclose(similarity.pairwise("L2 (Euclidean)", x), cdist(x, x), atol=1e-12)
    np.testing.assert_allclose(similarity.pairwise("squared L2", x), cdist(x, x, "sqeuclidean"), atol=1e-12)
    np.testing.assert_allclose(similarity.pairwise("L1 (city-block)", x), cdist(x, x, "cityblock"), atol=1e-12)
    np.testing.assert_allclose(similarity.pairwise("cosine", x), 1 - cdist(x, x, "cosine"), atol=1e-12)
    np.testing.assert_allclose(similarity.pairwise("RBF", x, sigma=0.5), np.exp(-cdist(x, x, "sqeuclidean") / 0.25), atol=1e-12)
    assert similarity.pairwise("dot product", x)[2, 5] == pytest.approx(float(np.dot(x[2], x[5])), rel=1e-12)


def test_auc_is_the_mann_whitney_probability_that_a_genuine_pair_beats_an_impostor(reference):
    x, labels = reference
    for name in ("dot product", "L1 (city-block)"):
        report = similarity.report(name, x, labels)
        sign = -1 if similarity.MEASURES[name].kind == "distance" else 1  # high = same person
        u = mannwhitneyu(sign * report.genuine, sign * report.impostor).statistic
        assert report.auc == pytest.approx(u / (len(report.genuine) * len(report.impostor)), abs=1e-12)


def test_metric_axioms_hold_where_the_maths_says_and_fail_where_it_does_not(reference):
    x, labels = reference
    reports = {name: similarity.report(name, x, labels) for name in similarity.MEASURES}
    assert len(labels) == 12 and reports["L2 (Euclidean)"].triangle_checked == 12 * 11 * 10
    for name in ("L2 (Euclidean)", "L1 (city-block)", "arc cosine (angle)"):  # true metrics
        assert reports[name].is_metric, name
    for name, report in reports.items():
        assert report.symmetric, name
    # The slide's squared L2 is not a metric; check the worst broken triangle with scipy's numbers.
    squared = reports["squared L2"]
    assert squared.triangle_violations > 0
    a, b, c = squared.worst_triangle
    d = cdist(x, x, "sqeuclidean")
    assert d[a, c] > d[a, b] + d[b, c]
    # The dot product gives no distance: d(x, x) = −‖x‖² ≠ 0.
    assert not reports["dot product"].zero_self
    # Dot, cosine and RBF are kernels: positive semi-definite Gram matrices.
    for name in ("dot product", "cosine", "RBF"):
        assert reports[name].gram_min_eigenvalue >= -1e-9, name


def test_triangle_violations_are_counted_over_every_ordered_triple(reference):
    x, labels = reference
    d = 1 - np.clip(1 - cdist(x, x, "cosine"), -1, 1)
    by_hand = sum(d[a, c] > d[a, b] + d[b, c] + 1e-12 for a, b, c in itertools.permutations(range(len(x)), 3))
    assert similarity.report("cosine", x, labels).triangle_violations == by_hand


@pytest.mark.page
def test_the_view_scores_every_measure_on_the_gallery(reference):
    from cvdemo.faces.gallery import Gallery

    x, labels = reference
    gallery = Gallery()
    for descriptor, name in zip(x, labels):
        gallery.add(name, descriptor.astype(np.float32))
    at = AppTest.from_file(str(ROOT / "pages" / "3_Face_verification.py"), default_timeout=300)
    at.session_state["fv_gallery"] = gallery
    at.query_params["view"] = "Similarity measures"
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["measure"]) == list(similarity.MEASURES)
    assert table.set_index("measure").loc["squared L2", "triangle inequality"].startswith("✗")
    assert table.set_index("measure").loc["L2 (Euclidean)", "triangle inequality"] == "✓"
