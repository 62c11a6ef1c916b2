"""Generalization (ObjectNet-style rotations): the turned views, the probabilities, and the view."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cvdemo.architectures import generalization
from cvdemo.registry import load_model
from tests.conftest import ROOT


def _disk(size: int, shrink: int = 3) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    return x ** 2 + y ** 2 < (size / 2 - shrink) ** 2


def test_turning_keeps_the_disk_and_a_quarter_turn_is_rot90(astronaut):
    square = generalization.frame(astronaut)
    disk = _disk(square.shape[0])
    np.testing.assert_array_equal(generalization.rotated(square, 0)[disk], square[disk])
    quarter = generalization.rotated(square, 90).astype(int)
    assert np.abs(quarter[disk] - np.rot90(square)[disk].astype(int)).mean() < 1.0  # counter-clockwise, as np.rot90
    corner = generalization.rotated(square, 30)[0, 0]
    np.testing.assert_array_equal(corner, square.reshape(-1, 3).mean(0).round())


def test_the_upright_probabilities_are_the_classifiers_own(astronaut):
    classifier = load_model("mobilenet_v2", "cpu")
    sweep = generalization.rotation_sweep(classifier, astronaut, step=90)
    assert list(sweep.angles) == [0, 90, 180, 270]
    upright = classifier.classify(generalization.rotated(generalization.frame(astronaut), 0))
    np.testing.assert_allclose(sweep.probabilities[0], upright.probabilities, atol=1e-5)
    assert sweep.reference == upright.best[2]
    assert sweep.probabilities.sum(1) == pytest.approx(np.ones(4), abs=1e-5)


@pytest.mark.page
def test_the_view_draws_the_curve():
    at = AppTest.from_file(str(ROOT / "pages" / "6_Architectures.py"), default_timeout=300)
    at.query_params["view"] = "Generalization"
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
    assert any("keeps that answer" in m.value for m in at.markdown)
