"""Fast occlusion is exact: it equals a one-patch-at-a-time loop and captum's Occlusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cvdemo.explain import attribute
from cvdemo.explain.occlusion import accumulate, make_baseline, occlusion_reference, window_starts
from tests.test_explain_methods import Distance, tiny_net


@pytest.fixture(scope="module")
def net():
    return tiny_net(seed=5)


@pytest.fixture(scope="module")
def x():
    return torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))


def test_window_placement_is_captums():
    assert window_starts(224, 16, 8) == list(range(0, 209, 8))  # 27 positions
    assert window_starts(224, 8, 8)[-1] == 216 and len(window_starts(224, 8, 8)) == 28  # 784 patches
    assert window_starts(16, 5, 3) == [0, 3, 6, 9, 12]  # the last window is cut off at 16


def test_accumulate_averages_over_covering_patches():
    diffs = np.array([[1.0, 3.0]])
    out = accumulate(diffs, [0], [0, 2], (2, 4), (2, 6))
    np.testing.assert_allclose(out[0], [1, 1, 2, 2, 3, 3])


@pytest.mark.parametrize("patch,stride,baseline", [(8, 4, "zero"), (5, 3, "blur"), (12, 12, "mean"), (6, 2, 0.5)])
def test_incremental_path_equals_the_brute_force_loop(net, x, patch, stride, baseline):
    fast = attribute("occlusion", net, x, 3, patch=patch, stride=stride, baseline=baseline, batch_size=16)
    assert fast.insight.path == "incremental", fast.insight  # the test must exercise the fast path
    reference = occlusion_reference(net, x, 3, patch, stride, baseline)
    np.testing.assert_allclose(fast.maps, reference, rtol=1e-4, atol=1e-5)
    batched = attribute("occlusion", net, x, 3, patch=patch, stride=stride, baseline=baseline, fast=False)
    np.testing.assert_allclose(batched.maps, reference, rtol=1e-4, atol=1e-5)


def test_incremental_path_with_a_scalar_model_and_several_items(net):
    model = Distance(net).eval()
    chips = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    fast = attribute("occlusion", model, chips, None, patch=8, stride=4)
    assert fast.insight.path == "incremental" and fast.maps.shape == (2, 32, 32)
    np.testing.assert_allclose(fast.maps, occlusion_reference(model, chips, None, 8, 4), rtol=1e-4, atol=1e-5)


@pytest.mark.oracle
def test_reference_loop_agrees_with_captum_on_awkward_geometry(net, x):
    from captum.attr import Occlusion

    ours = occlusion_reference(net, x, 1, patch=7, stride=5, baseline="zero")
    theirs = Occlusion(net).attribute(x, sliding_window_shapes=(3, 7, 7), strides=(3, 5, 5), baselines=0.0, target=1)
    np.testing.assert_allclose(ours[0], theirs[0, 0].numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(theirs[0, 0].numpy(), theirs[0, 2].numpy())  # captum repeats it per channel


def test_baselines():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    assert torch.equal(make_baseline(x, "zero"), torch.zeros_like(x))
    torch.testing.assert_close(make_baseline(x, "mean")[:, :, 5, 5], x.mean(dim=(2, 3)))
    blurred = make_baseline(x, "blur", (8, 8))
    assert blurred.shape == x.shape and blurred.std() < x.std()


class Gated(nn.Module):
    """An op the locality analysis does not know (a spatial roll): the plan must not be used."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(torch.roll(x, shifts=3, dims=-1))


def test_unknown_ops_fall_back_to_the_exact_batched_path(net, x):
    model = Gated(net).eval()
    result = attribute("occlusion", model, x, 0, patch=8, stride=8)
    assert result.insight.path == "batched"
    np.testing.assert_allclose(result.maps, occlusion_reference(model, x, 0, 8, 8), rtol=1e-4, atol=1e-5)


@pytest.mark.oracle
def test_mobilenet_v2_fast_path_equals_captum(mobilenet, chelsea_inputs):
    from captum.attr import Occlusion

    network, inputs, target = mobilenet.network, chelsea_inputs, 285
    ours = attribute("occlusion", network, inputs, target, patch=32, stride=32)
    assert ours.insight.path == "incremental", ours.insight
    assert ours.insight.plan.endswith("(oneDNN-frozen)"), "the CPU plan should run on frozen oneDNN pieces"
    with torch.no_grad():
        theirs = Occlusion(network).attribute(inputs, sliding_window_shapes=(3, 32, 32), strides=(3, 32, 32),
                                              baselines=0.0, target=target, perturbations_per_eval=49)
    np.testing.assert_allclose(ours.map, theirs[0, 0].numpy(), rtol=1e-3, atol=2e-4)


def test_efficientnet_lite_fast_path_equals_the_batched_path(efficientnet, chelsea):
    subject_inputs = efficientnet.preprocess(chelsea)
    fast = attribute("occlusion", efficientnet.network, subject_inputs, 282, patch=32, stride=32, baseline="blur")
    assert fast.insight.path == "incremental", fast.insight
    slow = attribute("occlusion", efficientnet.network, subject_inputs, 282, patch=32, stride=32, baseline="blur", fast=False)
    np.testing.assert_allclose(fast.map, slow.map, rtol=1e-3, atol=2e-4)


def test_bench_compares_with_captum_best_and_default_and_prints_the_floor(net, x):
    from cvdemo.explain.benchmarks import compare_occlusion

    small = x[..., :16, :16]  # small enough that the last layers see the whole input from every patch
    rows = compare_occlusion(net, small, 3, torch.device("cpu"), runs=1, model_name="tiny", ppe_choices=(4, 16), patch=8, stride=4)
    cases = [row.case for row in rows]
    assert [case.split(": ")[1] for case in cases] == [
        "cvdemo", cases[1].split(": ")[1], "captum ppe=1 (default)", "floor (layers every patch changes everywhere)"]
    assert cases[1].split(": ")[1] in ("captum ppe=4", "captum ppe=16")  # the faster of the two searched
    assert all(row.median_ms > 0 for row in rows)
    assert "x captum best" in rows[0].note and "x captum default" in rows[0].note and " path" in rows[0].note


def test_progress_says_when_the_plan_is_being_built_then_counts_patches(x):
    fresh = tiny_net(seed=11)
    messages = []
    attribute("occlusion", fresh, x, 3, patch=8, stride=4, progress=lambda fraction, message: messages.append(message))
    assert messages[0].startswith("occlusion: planning"), messages[:2]
    assert messages[-1] == "occlusion: 81/81 patches"
    messages.clear()
    attribute("occlusion", fresh, x, 3, patch=8, stride=4, progress=lambda fraction, message: messages.append(message))
    assert not any("planning" in message for message in messages)  # planned once per model and size


def test_work_accounting_on_mobilenet_v2(mobilenet, chelsea_inputs):
    from cvdemo.explain.occlusion import _Prepared, first_cut_every_patch_fills, occlusion_work

    work = occlusion_work(mobilenet.network, chelsea_inputs, 16, 8)
    assert work.full == pytest.approx(300.8e6, rel=0.01)  # MobileNetV2's published 0.30 G multiply-adds
    # Cropping to the largest changed region saves less than computing only each patch's changed
    # outputs, and both keep every layer that each patch changes everywhere.
    assert work.full > work.largest_region > work.changed_only > work.filled > 0
    prep = _Prepared(mobilenet.network)
    filled = first_cut_every_patch_fills(prep.gm, chelsea_inputs, 16, 8)
    assert tuple(filled.meta["tensor_meta"].shape[-2:]) == (7, 7)  # only on the last, 7×7 stage
