"""The TorchScript back end gives eager torch's outputs (the oracle) and never makes a caller wait."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvdemo import registry
from cvdemo.fastpath import FastNetwork, accelerate

LIVE_NETWORKS = ["nanodet", "centernet", "yolov3-tiny", "yolov3-tiny-320", "selfie", "meet"]


def _network_input(model, photo: np.ndarray) -> torch.Tensor:
    """The tensor ``model.forward`` hands its network: the batch API's prepared input, as forward lays it out."""
    inputs = model.prepare(photo).inputs
    return inputs.contiguous(memory_format=torch.channels_last) if hasattr(model, "anchors") else inputs


def _flat(outputs) -> list[torch.Tensor]:
    return [outputs] if isinstance(outputs, torch.Tensor) else [t for o in outputs for t in _flat(o)]


@pytest.mark.parametrize("name", LIVE_NETWORKS)
def test_traced_network_matches_eager_to_1e_4(name, require_ready, astronaut):
    require_ready(name)
    model = registry.load_model(name, "cpu")
    x = _network_input(model, astronaut)
    fast = FastNetwork(model.network, background=False)
    with torch.inference_mode():
        expected = _flat(model.network(x))
        got = _flat(fast(x))
    assert fast.ready_for(x)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        # folding batch norm into the convolutions reorders float32 sums: ~1e-6 relative, far below 1e-4
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-4), (name, (g - e).abs().max().item())


def test_first_call_answers_eagerly_while_the_trace_builds(require_ready, astronaut):
    require_ready("selfie")
    model = registry.load_model("selfie", "cpu")
    x = model.preprocess(astronaut)
    fast = FastNetwork(model.network)
    with torch.inference_mode():
        first = fast(x)  # starts the trace on a thread and returns the eager answer at once
        expected = model.network(x)
    assert torch.equal(first, expected)


def test_gradients_and_hooks_use_eager_torch(require_ready, astronaut):
    require_ready("selfie")
    model = accelerate(registry.load_model("selfie", "cpu"), background=False)
    x = model.preprocess(astronaut)
    with torch.inference_mode():
        model.network(x)
    assert model.network.ready_for(x)
    x.requires_grad_(True)
    model.network(x).sum().backward()  # explanations need the eager graph's gradients
    assert x.grad is not None and x.grad.abs().sum() > 0
    seen = []
    handle = next(m for m in model.network.eager.modules() if isinstance(m, torch.nn.Conv2d)).register_forward_hook(
        lambda module, args, out: seen.append(out.shape))
    with torch.inference_mode():
        model.network(x.detach())
    handle.remove()
    assert seen, "a hooked layer must see the input, so the traced graph must not run"


def test_accelerated_detector_finds_the_same_boxes(require_ready, astronaut):
    require_ready("nanodet")
    eager = registry.load_model("nanodet", "cpu")
    fast = accelerate(registry.load_model("nanodet", "cpu"), background=False)
    a, b = eager.detect(astronaut), fast.detect(astronaut)
    assert a.label_names == b.label_names
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)  # pixels; from 1e-4 logits
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
