"""The attribution API and the gradient methods, on small networks (fast) and against captum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cvdemo.explain import METHODS, AttributionError, Cancelled, attribute
from cvdemo.explain.layers import default_layer


class TinyNet(nn.Module):
    """Conv + BatchNorm + ReLU6, a stride-2 stage, a residual block, max-pool, global pool, dense."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6())
        self.down = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, groups=12), nn.BatchNorm2d(12), nn.ReLU6(),
                                    nn.Conv2d(12, 12, 1), nn.BatchNorm2d(12))
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Conv2d(12, 16, 3, padding=2, dilation=2), nn.ReLU())
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.down(self.stem(x))
        x = x + self.branch(x)
        x = self.head(self.pool(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    net = TinyNet()
    for module in net.modules():  # non-trivial BatchNorm statistics, as in a trained network
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def x():
    return torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))


FAST_OPTIONS = {"occlusion": {"patch": 8, "stride": 4}, "smoothgrad": {"samples": 4}, "vargrad": {"samples": 4},
                "integrated_gradients": {"steps": 8}, "kernel_shap": {"samples": 40}, "lime": {"samples": 40}}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_finite_map_of_the_input_size(net, x, method):
    result = attribute(method, net, x, 2, **FAST_OPTIONS.get(method, {}))
    assert result.map.shape == (32, 32)
    assert result.maps.shape == (1, 32, 32)
    assert np.isfinite(result.map).all()
    if method != "lime":  # captum's LIME fits a Lasso (α = 0.01) that zeroes TinyNet's tiny score differences
        assert np.abs(result.map).max() > 0
    assert result.method == method and result.target == 2 and result.seconds > 0
    assert result.summary()["map_shape"] == [32, 32]


def test_methods_never_touch_the_shared_network(net, x):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    for method in ("gradcam", "lrp_gamma", "occlusion", "saliency", "guided_backprop", "deeplift", "layercam"):
        attribute(method, net, x, 1, **FAST_OPTIONS.get(method, {}))
    assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == flags
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_vanilla_gradient_is_simonyans_max_abs_over_channels(net, x):
    result = attribute("saliency", net, x, 0)
    assert not result.signed and (result.map >= 0).all()
    np.testing.assert_allclose(result.map, result.raw[0].abs().amax(0).numpy(), rtol=1e-6)


def test_default_layer_probes_once_per_network_and_input_size(net, x, monkeypatch):
    import copy

    from cvdemo.explain import layers

    probed = []
    probe = layers.private_copy
    monkeypatch.setattr(layers, "private_copy", lambda network, purpose: probed.append(purpose) or probe(network, purpose))
    fresh = copy.deepcopy(net)  # nothing remembered for it yet
    assert [default_layer(fresh, x) for _ in range(3)] == ["head"] * 3  # the block's output, after its ReLU
    assert len(probed) == 1  # live Grad-CAM asks every frame; the answer is remembered
    larger = torch.nn.functional.interpolate(x, scale_factor=2)
    assert default_layer(fresh, larger) == "head"
    assert len(probed) == 2  # another input size is probed again


def test_smoothgrad_averages_noisy_gradients(net, x):
    a = attribute("smoothgrad", net, x, 1, samples=8, seed=3)
    b = attribute("smoothgrad", net, x, 1, samples=8, seed=3)
    np.testing.assert_array_equal(a.map, b.map)
    plain = attribute("saliency", net, x, 1)
    assert not np.allclose(a.map, plain.map)


class Distance(nn.Module):
    """One scalar per item: how far the embedding is from a reference (a face-verification stand-in)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.reference = torch.ones(1, 5)

    def forward(self, x):
        return (self.net(x) - self.reference).pow(2).sum(1).sqrt()


def test_scalar_models_take_no_target(net, x):
    model = Distance(net).eval()
    for method in ("saliency", "integrated_gradients", "occlusion", "gradcam", "deeplift", "kernel_shap"):
        result = attribute(method, model, x, None, **FAST_OPTIONS.get(method, {}))
        assert result.target is None and np.isfinite(result.map).all()
    with pytest.raises(AttributionError, match="target"):
        attribute("saliency", net, x, None)  # a 5-class model needs a target
    with pytest.raises(AttributionError, match="out of range"):
        attribute("saliency", net, x, 7)


def test_a_plain_function_works_where_no_module_is_needed(net, x):
    def forward_fn(batch):
        return net(batch)[:, 2] - net(batch)[:, 0]

    result = attribute("occlusion", forward_fn, x, None, patch=8, stride=8)
    assert result.insight.path == "batched" and np.isfinite(result.map).all()
    with pytest.raises(AttributionError, match="Module"):
        attribute("gradcam", forward_fn, x, None)


def test_progress_callback_reports_and_can_cancel(net, x):
    seen = []
    attribute("smoothgrad", net, x, 0, samples=8, batch_size=2, progress=lambda f, m: seen.append(f))
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    with pytest.raises(Cancelled):
        attribute("occlusion", net, x, 0, patch=4, stride=2, batch_size=8, progress=lambda f, m: f < 0.3)
    with pytest.raises(Cancelled):
        attribute("integrated_gradients", net, x, 0, steps=16, batch_size=4, progress=lambda f, m: f < 0.3)


def test_unknown_methods_and_bad_inputs_are_explained(net, x):
    with pytest.raises(AttributionError, match="unknown method"):
        attribute("guided_magic", net, x, 0)
    with pytest.raises(AttributionError, match=r"\(N, C, H, W\)"):
        attribute("saliency", net, x[0], 0)
    assert attribute("ig", net, x, 0, steps=4).method == "integrated_gradients"  # aliases
    assert attribute("gradient", net, x, 0).method == "saliency"


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "gradcam", "gradcam_plus_plus", "eigencam"])
def test_the_top_class_target_explains_the_prediction_of_the_same_pass(net, x, method):
    from cvdemo.explain.core import TopClass

    with torch.no_grad():
        predicted = int(net(x).argmax())
    top = TopClass()
    chosen = attribute(method, net, x, top)
    assert chosen.target == predicted
    np.testing.assert_allclose(chosen.map, attribute(method, net, x, predicted).map, rtol=1e-5, atol=1e-7)
    assert top.outputs.shape == (1, 5)  # the pass's scores, for the prediction's probability


@pytest.mark.parametrize("method", ["smoothgrad", "integrated_gradients", "occlusion", "lrp_epsilon", "lime"])
def test_methods_of_several_passes_refuse_the_top_class_target(net, x, method):
    from cvdemo.explain.core import TopClass

    with pytest.raises(AttributionError, match="give it a class"):
        attribute(method, net, x, TopClass())
