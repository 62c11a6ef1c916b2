"""The autoencoder tab: shapes through a 2-D code, the reconstruction error against the mean image, and the tab."""

from __future__ import annotations

import pytest

import numpy as np
import torch
from streamlit.testing.v1 import AppTest

from cvdemo.gan import autoencoder
from tests.conftest import ROOT


def test_the_code_has_two_numbers_and_the_decoder_gives_back_the_image_size():
    model = autoencoder.AutoEncoder()
    x = torch.zeros(3, 1, autoencoder.IMAGE_SIZE, autoencoder.IMAGE_SIZE)
    assert model.encoder(x).shape == (3, 2)
    assert model(x).shape == x.shape


def test_training_reconstructs_better_than_the_mean_image():
    run = autoencoder.train(seed=0)
    images = run.images.numpy()
    by_hand = float(((images - images.mean(0)) ** 2).mean())
    assert run.mean_image_loss == np.float32(by_hand) or abs(run.mean_image_loss - by_hand) < 1e-6
    assert run.losses[-1] < 0.85 * run.mean_image_loss
    xs, ys, grid = run.decode_grid(4)
    assert grid.shape == (4, 4, autoencoder.IMAGE_SIZE, autoencoder.IMAGE_SIZE)
    codes = run.codes()
    assert xs[0] == codes[:, 0].min() and ys[0] == codes[:, 1].max()


@pytest.mark.page
def test_the_tab_trains_and_draws():
    at = AppTest.from_file(str(ROOT / "pages" / "4_GAN_faces.py"), default_timeout=300)
    at.session_state["gan_tab"] = "Autoencoder"
    at.run()
    at.slider(key="gan_ae_epochs").set_value(5)
    at.button(key="gan_ae_train").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1 and any("Reconstruction error" in m.value for m in at.markdown)
