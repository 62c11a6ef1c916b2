"""Captum as the engine: every captum-backed method equals captum called directly; the CAMs
captum lacks match their definitions on a toy network whose numbers can be checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cvdemo.explain import METHODS, AttributionError, attribute
from cvdemo.explain.captum_methods import CAPTUM_METHODS, baseline_set, grid_mask
from tests.test_explain_methods import tiny_net

TARGET = 3


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def x():
    return torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _seeded(seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)  # GradientShap draws its path positions from numpy


def _direct(name: str, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Captum's own answer for each method, with the options the app uses by default."""
    import captum.attr as ca

    xg = x.clone().requires_grad_(True)
    zero = torch.zeros_like(x)
    if name == "saliency":
        return ca.Saliency(net).attribute(xg, target=TARGET, abs=False)
    if name == "input_x_gradient":
        return ca.InputXGradient(net).attribute(xg, target=TARGET)
    if name == "guided_backprop":
        return ca.GuidedBackprop(net).attribute(xg, target=TARGET)
    if name == "deconvolution":
        return ca.Deconvolution(net).attribute(xg, target=TARGET)
    if name == "integrated_gradients":
        return ca.IntegratedGradients(net).attribute(x, baselines=zero, target=TARGET, n_steps=32, method="gausslegendre")
    if name in ("smoothgrad", "vargrad"):
        _seeded()
        sigma = 0.15 * float(x.max() - x.min())
        return ca.NoiseTunnel(ca.Saliency(net)).attribute(x, target=TARGET, nt_type=name, nt_samples=24,
                                                          nt_samples_batch_size=16, stdevs=sigma, abs=False)
    if name == "deeplift":
        return ca.DeepLift(net).attribute(x, baselines=zero, target=TARGET)
    if name == "deeplift_shap":
        return ca.DeepLiftShap(net).attribute(x, baselines=baseline_set(x), target=TARGET)
    if name == "gradient_shap":
        _seeded()
        return ca.GradientShap(net).attribute(x, baselines=baseline_set(x), target=TARGET, n_samples=24, stdevs=0.0)
    if name == "gradcam":
        return ca.LayerGradCam(net, net.head).attribute(x, target=TARGET, relu_attributions=True)
    if name == "guided_gradcam":
        return ca.GuidedGradCam(net, net.head).attribute(xg, target=TARGET)
    if name == "layer_conductance":
        return ca.LayerConductance(net, net.head).attribute(x, baselines=zero, target=TARGET, n_steps=32,
                                                            method="gausslegendre", internal_batch_size=16)
    mask = grid_mask(x.shape, 4)  # the app's default for 32 px: a 7-cell side, 4 px (32 // 7)
    if name == "feature_ablation":
        return ca.FeatureAblation(net).attribute(x, baselines=zero, target=TARGET, feature_mask=mask,
                                                 perturbations_per_eval=16)
    if name == "shapley_value_sampling":
        _seeded()
        return ca.ShapleyValueSampling(net).attribute(x, baselines=zero, target=TARGET, feature_mask=mask, n_samples=4,
                                                      perturbations_per_eval=16)
    if name == "kernel_shap":
        _seeded()
        return ca.KernelShap(net).attribute(x, baselines=zero, target=TARGET, feature_mask=mask, n_samples=200,
                                            perturbations_per_eval=16)
    if name == "lime":
        _seeded()
        return ca.Lime(net).attribute(x, baselines=zero, target=TARGET, feature_mask=mask, n_samples=200,
                                      perturbations_per_eval=16)
    raise KeyError(name)


@pytest.mark.parametrize("method", [cls.name for cls in CAPTUM_METHODS])
def test_each_captum_backed_method_equals_captum_called_directly(net, x, method):
    ours = attribute(method, net, x, TARGET)
    theirs = _direct(method, net, x).detach()
    assert ours.raw.shape == theirs.shape
    # Same operations in the same order, except that the app selects the class score itself
    # (select_scores) instead of captum's target indexing: float32 sums may round differently.
    torch.testing.assert_close(ours.raw, theirs.float(), rtol=1e-4, atol=1e-6)
    assert ours.map.shape == (32, 32) and np.isfinite(ours.map).all()


def test_every_listed_method_is_one_of_the_issues_names():
    wanted = {"saliency", "input_x_gradient", "guided_backprop", "deconvolution", "integrated_gradients", "smoothgrad",
              "vargrad", "deeplift", "deeplift_shap", "gradient_shap", "gradcam", "guided_gradcam", "layer_conductance",
              "feature_ablation", "shapley_value_sampling", "kernel_shap", "lime", "gradcam_plus_plus", "layercam",
              "eigencam", "occlusion", "lrp_epsilon", "lrp_gamma", "lrp_alpha_beta"}
    assert set(METHODS) == wanted


def test_misspelt_options_raise(net, x):
    with pytest.raises(AttributionError, match="stpes"):
        attribute("integrated_gradients", net, x, TARGET, stpes=8)
    with pytest.raises(AttributionError, match="samples"):
        attribute("saliency", net, x, TARGET, samples=8)
    with pytest.raises(TypeError):
        attribute("occlusion", net, x, TARGET, patchsize=8)  # the app's own methods: Python's own error
    with pytest.raises(TypeError):
        attribute("lrp_epsilon", net, x, TARGET, epsilom=0.1)


def test_completeness_is_checked_for_the_completeness_methods(net, x):
    with torch.no_grad():
        gap = float(net(x)[0, TARGET] - net(torch.zeros_like(x))[0, TARGET])
    for method in ("integrated_gradients", "shapley_value_sampling", "layer_conductance"):
        check = attribute(method, net, x, TARGET).conservation
        assert check is not None and check.output == pytest.approx(gap, rel=1e-5), method
        assert check.ok, (method, check.describe())
    # Shapley values add up exactly along every sampled order (up to float rounding).
    shapley = attribute("shapley_value_sampling", net, x, TARGET).conservation
    assert shapley.relevance_sum == pytest.approx(gap, rel=1e-4, abs=1e-6)
    # DeepLIFT has the property only where captum has a rule for every non-linearity; TinyNet's
    # ReLU6 has none (captum treats it as a plain gradient), and the check says so.
    deeplift = attribute("deeplift", net, x, TARGET).conservation
    assert deeplift is not None and deeplift.output == pytest.approx(gap, rel=1e-5)
    assert attribute("saliency", net, x, TARGET).conservation is None


def test_integrated_gradients_raises_its_steps_until_the_gap_is_small(mobilenet, chelsea_inputs):
    result = attribute("integrated_gradients", mobilenet.network, chelsea_inputs, 285)  # Egyptian cat
    check = result.conservation
    assert check.ok and check.relative_error < 0.05, check.describe()
    tried = result.insight.tried
    assert [t.steps for t in tried] == [32 * 2 ** i for i in range(len(tried))]
    assert tried[-1].relative_gap < 0.05 and all(t.relative_gap >= 0.05 for t in tried[:-1])
    fixed = attribute("integrated_gradients", mobilenet.network, chelsea_inputs, 285, steps=8)
    assert fixed.insight.steps == 8 and len(fixed.insight.tried) == 1  # asked for: not raised


# ---------------------------------------------------------------------------------------------
# The CAMs captum lacks, on a network small enough to do by hand


class TwoChannels(nn.Module):
    """``A = ReLU(conv(x))`` with two 1×1 filters copying input channels 0 and 1, then
    ``score = Σ_ij (a · A₀ + b · A₀² + c · A₁)``: gradients dS/dA₀ = a + 2b·A₀, dS/dA₁ = c."""

    def __init__(self, a=1.0, b=0.5, c=-2.0):
        super().__init__()
        self.features = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
        self.relu = nn.ReLU()
        self.a, self.b, self.c = a, b, c

    def forward(self, x):
        activation = self.relu(self.features(x))
        score = (self.a * activation[:, 0] + self.b * activation[:, 0] ** 2 + self.c * activation[:, 1]).sum(dim=(1, 2))
        return score[:, None]


TOY_A0 = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
TOY_A1 = torch.tensor([[1.0, 0.0], [2.0, 1.0]])


@pytest.fixture()
def toy():
    return TwoChannels().eval(), torch.stack([TOY_A0, TOY_A1])[None]


def test_layercam_on_the_toy(toy):
    network, x = toy
    result = attribute("layercam", network, x, None, layer="relu")
    # g₀ = 1 + A₀ = [[2, 3], [1, 4]] (all positive), g₁ = −2 (ReLU'd away):
    # LayerCAM = ReLU(g₀·A₀ + 0) = [[2, 6], [0, 12]]
    torch.testing.assert_close(result.raw[0, 0], torch.tensor([[2.0, 6.0], [0.0, 12.0]]))
    assert result.map.shape == (2, 2)


def test_gradcam_plus_plus_on_the_toy(toy):
    network, x = toy
    result = attribute("gradcam_plus_plus", network, x, None, layer="relu")
    # Channel 0: g = [[2, 3], [1, 4]], Σ A₀ = 6, α = g² / (2g² + 6g³) = 1 / (2 + 6g):
    # α = [[1/14, 1/20], [1/8, 1/26]]; w₀ = Σ α·g = 2/14 + 3/20 + 1/8 + 4/26.
    # Channel 1: g = −2 < 0, so ReLU(g) = 0 and w₁ = 0. Map = ReLU(w₀ A₀).
    w0 = 2 / 14 + 3 / 20 + 1 / 8 + 4 / 26
    torch.testing.assert_close(result.raw[0, 0], (w0 * TOY_A0).float())


def test_eigencam_on_the_toy(toy):
    network, x = toy
    result = attribute("eigencam", network, x, None, layer="relu")
    # Positions × channels M = [[1, 1], [2, 0], [0, 2], [3, 1]]; MᵀM = [[14, 4], [4, 6]].
    # Its top eigenvector: λ = 10 + √32, v ∝ (4, λ − 14); the map is M v, sign making Σ > 0.
    lam = 10 + np.sqrt(32)
    v = np.array([4.0, lam - 14.0])
    v /= np.linalg.norm(v)
    positions = np.array([[1, 1], [2, 0], [0, 2], [3, 1]], dtype=float)
    expected = (positions @ v).reshape(2, 2)
    np.testing.assert_allclose(result.raw[0, 0].numpy(), expected, rtol=1e-5)
    assert result.raw.sum() > 0


def test_gradcam_is_captums_on_the_toy_too(toy):
    network, x = toy
    result = attribute("gradcam", network, x, None, layer="relu")
    # Grad-CAM weights are the mean gradients: w₀ = mean(1 + A₀) = 2.5, w₁ = −2;
    # ReLU(2.5 A₀ − 2 A₁) = ReLU([[0.5, 5], [−4, 5.5]]).
    torch.testing.assert_close(result.raw[0, 0], torch.tensor([[0.5, 5.0], [0.0, 5.5]]))
