"""The 2-D GAN game: mode coverage by hand, the discriminator's surface, the game's losses, and the tab."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from cvdemo.gan import toy2d
from tests.conftest import ROOT


def test_coverage_counts_modes_by_hand():
    centres = toy2d.mode_centres(8)
    assert np.allclose(np.linalg.norm(centres, axis=1), toy2d.RADIUS)
    on_one = np.repeat(centres[:1], 100, 0)
    assert toy2d.coverage(on_one, 8) == (1, 1.0)
    on_all = np.repeat(centres, 10, 0)
    assert toy2d.coverage(on_all, 8) == (8, 1.0)
    # Half the points at the centre of the ring (far from every blob), half on two blobs.
    mixed = np.concatenate([np.zeros((50, 2)), np.repeat(centres[[2, 5]], 25, 0)])
    assert toy2d.coverage(mixed, 8) == (2, 0.5)


def test_real_points_lie_on_their_blobs():
    points = toy2d.real_points(4000, 6, torch.Generator().manual_seed(0)).numpy()
    covered, quality = toy2d.coverage(points, 6)
    assert covered == 6
    assert quality == pytest.approx(0.9889, abs=0.01)  # P(‖N(0, σ²I₂)‖ < 3σ) = 1 − e^(−9/2)


def test_discriminator_alone_learns_to_separate_real_from_generated_points():
    run = toy2d.train(4, 300, g_steps=0, seed=0, resolution=61)
    assert all(math.isnan(loss) for loss in run.g_loss)
    final = run.snapshots[-1]
    axis = np.linspace(-toy2d.GRID_EXTENT, toy2d.GRID_EXTENT, 61)

    def surface_at(point):
        return final.surface[np.abs(axis - point[1]).argmin(), np.abs(axis - point[0]).argmin()]

    assert min(surface_at(c) for c in toy2d.mode_centres(4)) > 0.9  # the blobs are "real"
    fake_centre = final.fake.mean(0)
    assert surface_at(fake_centre) < 0.1  # where the frozen G puts its points is "fake"
    assert run.d_loss[0] == pytest.approx(math.log(2), abs=0.1)  # the first step starts near chance, ln 2
    assert run.d_loss[-1] < 0.05


@pytest.mark.page
def test_the_tab_trains_and_draws_the_game():
    at = AppTest.from_file(str(ROOT / "pages" / "4_GAN_faces.py"), default_timeout=300)
    at.run()
    assert not at.exception
    at.button(key="gan_to_2d").click().run()  # the DCGAN page's link to the game
    assert not at.exception and at.session_state["gan_tab"] == "2-D GAN game"
    at.select_slider(key="gan2d_steps").set_value(200)
    at.slider(key="gan2d_modes").set_value(4)
    at.button(key="gan2d_train").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
