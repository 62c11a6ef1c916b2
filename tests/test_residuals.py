"""Why residuals: the data the app draws, the networks, the degradation curve's direction, gradient norms and the view."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from cvdemo.architectures import residuals
from tests.conftest import ROOT


def test_shapes_are_drawn_as_named_and_the_data_set_is_reproducible():
    images, labels = residuals.shapes_dataset(200, seed=3, noise=0.0)
    again, _ = residuals.shapes_dataset(200, seed=3, noise=0.0)
    assert torch.equal(images, again)
    assert set(labels.tolist()) == set(range(len(residuals.SHAPES)))
    for image, label in zip(images[:, 0].numpy(), labels.tolist()):
        rows, cols = np.nonzero(image)
        name = residuals.SHAPES[label]
        if name == "horizontal bar":
            assert len(set(rows)) == 1 and len(cols) >= residuals.IMAGE_SIZE // 2
        elif name == "vertical bar":
            assert len(set(cols)) == 1 and len(rows) >= residuals.IMAGE_SIZE // 2
        elif name == "diagonal":
            assert len(set(rows)) == len(set(cols)) == len(rows)


def test_a_net_of_depth_d_has_d_weighted_layers():
    for depth in (4, 10):
        net = residuals.DepthNet(depth, residual=False)
        assert len(net.weighted_layers()) == depth
    with pytest.raises(ValueError):
        residuals.DepthNet(5, residual=True)


def test_residual_blocks_that_start_as_the_identity_make_the_deep_net_its_stem_and_head():
    x, _ = residuals.shapes_dataset(8, seed=1)
    net = residuals.DepthNet(16, residual=True, identity_start=True)
    with torch.no_grad():
        shallow = net.head(F.relu(net.stem(x)).mean((2, 3)))  # by hand: every block adds zero to a non-negative map
        assert torch.allclose(net(x), shallow, atol=1e-6)


def test_the_last_layer_gradient_matches_the_softmax_formula():
    x, y = residuals.shapes_dataset(32, seed=2)
    net = residuals.DepthNet(6, residual=False)
    norms = residuals.gradient_norms(net, x, y)
    with torch.no_grad():
        features = F.relu(net.stem(x))
        for first, second in zip(net.body[0::2], net.body[1::2]):
            features = F.relu(second(F.relu(first(features))))
        pooled = features.mean((2, 3))
        error = F.softmax(net.head(pooled), 1) - F.one_hot(y, len(residuals.SHAPES)).float()
        by_hand = error.T @ pooled / len(y)  # ∂(mean cross-entropy)/∂W of the dense layer
    assert norms[-1] == pytest.approx(float(by_hand.norm()), rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_deeper_plain_nets_train_worse_and_residual_ones_do_not(seed):
    data = residuals.shapes_dataset(384, seed), residuals.shapes_dataset(256, seed + 10_000)
    plain_shallow, plain_deep, residual_deep = (residuals.train(depth, residual, *data, seed=seed)
                                                for depth, residual in ((4, False), (16, False), (16, True)))
    assert plain_deep.final_loss > plain_shallow.final_loss + 0.3  # degradation: deeper plain is worse
    assert residual_deep.final_loss < plain_deep.final_loss - 0.3
    # The deep plain net learned nothing: it sits at the loss of uniform scores, ln 5.
    assert plain_deep.final_loss == pytest.approx(math.log(len(residuals.SHAPES)), abs=0.05)
    # Vanishing gradients: the input side of the plain stack gets < 1/1000 of the output side's gradient.
    plain_ratio = plain_deep.initial_gradients[0] / plain_deep.initial_gradients[-1]
    residual_ratio = residual_deep.initial_gradients[0] / residual_deep.initial_gradients[-1]
    assert plain_ratio < 1e-3 < 1e-2 < residual_ratio


@pytest.mark.page
def test_the_view_trains_and_draws_its_plots():
    at = AppTest.from_file(str(ROOT / "pages" / "6_Architectures.py"), default_timeout=300)
    at.query_params["view"] = "Why residuals"
    at.run()
    assert not at.exception
    at.multiselect(key="arch_res_depths").set_value([4, 8])
    at.slider(key="arch_res_epochs").set_value(2)
    at.button(key="arch_res_train").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3
    table = at.dataframe[0].value
    assert list(table["network"]) == ["plain-4", "plain-8", "residual-4", "residual-8"]
