"""LRP on real networks: canonical form, conservation, and what goes wrong without it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from cvdemo.explain import attribute
from cvdemo.explain.lrp import TOLERANCE, canonical_form, input_bounds_for, refused
from tests.test_explain_methods import tiny_net

RULES = ("lrp_epsilon", "lrp_gamma", "lrp_alpha_beta")


@pytest.mark.parametrize("method", RULES)
def test_conservation_on_a_small_batchnorm_residual_net(method):
    net = tiny_net(seed=7)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    result = attribute(method, net, x, 2)
    assert result.conservation.ok, result.conservation.describe()
    assert result.conservation.relative_error < 1e-3
    with torch.no_grad():
        outputs = net(x)[:, 2]
    for total, output in zip(result.insight.conservation_per_item, outputs.tolist()):
        assert total == pytest.approx(output, rel=1e-3)


@pytest.mark.parametrize("method", RULES)
def test_conservation_on_mobilenet_v2(mobilenet, chelsea_inputs, method):
    bounds = input_bounds_for(mobilenet.mean, mobilenet.std)
    result = attribute(method, mobilenet.network, chelsea_inputs, 285, input_bounds=bounds)
    check = result.conservation
    assert check.ok and check.relative_error < TOLERANCE, check.describe()
    with torch.no_grad():
        assert check.output == pytest.approx(float(mobilenet.network(chelsea_inputs)[0, 285]), rel=1e-4)
    assert np.isfinite(result.map).all() and refused(result) is None


def test_conservation_on_efficientnet_lite(efficientnet, chelsea):
    inputs = efficientnet.preprocess(chelsea)
    for method in RULES:
        result = attribute(method, efficientnet.network, inputs, 282, input_bounds=input_bounds_for(efficientnet.mean, efficientnet.std))
        assert result.conservation.ok, (method, result.conservation.describe())


def test_published_rules_leak_on_batchnorm_networks_and_are_refused(mobilenet, chelsea_inputs):
    """zennit's rules as published lose the relevance of bias-driven neurons: the check catches it."""
    result = attribute("lrp_alpha_beta", mobilenet.network, chelsea_inputs, 285, leak="standard")
    assert not result.conservation.ok
    assert refused(result) and "does not add up" in refused(result)


def test_small_epsilon_explodes_and_is_refused(mobilenet, chelsea_inputs):
    """LRP-ε with a tiny ε through MobileNetV2's linear bottlenecks: relevance blows up into ± pairs."""
    result = attribute("lrp_epsilon", mobilenet.network, chelsea_inputs, 285, epsilon=0.01)
    assert not result.conservation.ok


def test_canonical_form_of_mobilenet_v2(mobilenet, chelsea_inputs):
    from zennit.layer import Sum

    gm = canonical_form(copy.deepcopy(mobilenet.network), chelsea_inputs)
    modules = list(gm.modules())
    assert sum(isinstance(m, Sum) for m in modules) == 10  # one per InvertedResidual with a skip
    assert not any(isinstance(m, nn.BatchNorm2d) for m in modules)  # all folded
    with torch.no_grad():
        torch.testing.assert_close(gm(chelsea_inputs), mobilenet.network(chelsea_inputs), rtol=1e-4, atol=1e-4)


@pytest.mark.oracle
def test_captums_lrp_misses_resnets_skip_connections_and_ours_does_not():
    """The brief's trap: captum runs on a stock ResNet without error but its relevance does not add up."""
    from captum.attr import LRP as CaptumLRP

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.uniform_(-0.2, 0.2)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        output = float(net(x)[0, 3])
    theirs = CaptumLRP(copy.deepcopy(net)).attribute(x, target=3)
    captum_error = abs(float(theirs.detach().sum()) - output) / abs(output)
    ours = attribute("lrp_epsilon", net, x, 3)
    assert captum_error > 1.0  # off by more than 100 % (often by orders of magnitude)
    assert ours.conservation.relative_error < 1e-3, ours.conservation.describe()


def test_lrp_refuses_to_run_on_a_plain_function(mobilenet, chelsea_inputs):
    from cvdemo.explain import AttributionError

    with pytest.raises(AttributionError):
        attribute("lrp_gamma", lambda batch: mobilenet.network(batch), chelsea_inputs, 0)
