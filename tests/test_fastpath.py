"""The compiled back ends (ONNX Runtime, TorchScript) give eager torch's outputs (the oracle) and never make a caller wait."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cvdemo import registry
from cvdemo import fastpath
from cvdemo.fastpath import FastNetwork, accelerate, compile_network

LIVE_NETWORKS = ["nanodet", "centernet", "yolov3-tiny", "yolov3-tiny-320", "selfie", "meet"]


def _network_input(model, photo: np.ndarray) -> torch.Tensor:
    """The tensor ``model.forward`` hands its network: the batch API's prepared input, as forward lays it out."""
    inputs = model.prepare(photo).inputs
    return inputs.contiguous(memory_format=torch.channels_last) if hasattr(model, "anchors") else inputs


def _layout(outputs):
    """The nesting of an output: what the wrapper's decode indexes into."""
    return "tensor" if isinstance(outputs, torch.Tensor) else (type(outputs).__name__, [_layout(o) for o in outputs])


def _flat(outputs) -> list[torch.Tensor]:
    return [outputs] if isinstance(outputs, torch.Tensor) else [t for o in outputs for t in _flat(o)]


@pytest.mark.parametrize("backend", fastpath.COMPILED)
@pytest.mark.parametrize("name", LIVE_NETWORKS)
def test_each_back_end_matches_eager_to_1e_4(name, backend, require_ready, astronaut):
    require_ready(name)
    model = registry.load_model(name, "cpu")
    x = _network_input(model, astronaut)
    compiled = compile_network(model.network, x, backend)
    with torch.inference_mode():
        expected_outputs, got_outputs = model.network(x), compiled(x)
    assert _layout(got_outputs) == _layout(expected_outputs)
    expected, got = _flat(expected_outputs), _flat(got_outputs)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        # folding batch norm into the convolutions reorders float32 sums: ~1e-6 relative, far below 1e-4
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-4), (name, backend, (g - e).abs().max().item())


@pytest.mark.parametrize("name", ["yolov3-tiny-320", "selfie"])
def test_auto_races_the_back_ends_and_keeps_a_matching_one(name, require_ready, astronaut):
    require_ready(name)
    model = registry.load_model(name, "cpu")
    x = _network_input(model, astronaut)
    fast = FastNetwork(model.network, background=False, backends=fastpath.COMPILED)
    with torch.inference_mode():
        got = fast(x)
        expected = model.network(x)
    assert fast.ready_for(x)
    choice = fast.choices[fastpath._key(x)]
    assert choice.backend in fastpath.COMPILED and not choice.rejected
    assert set(choice.median_ms) == {*fastpath.COMPILED, "eager"}  # both timed, in turns, against eager
    fastest = min(choice.median_ms[b] for b in fastpath.COMPILED)
    if choice.backend == "torchscript":  # ONNX Runtime wins near ties
        assert choice.median_ms["onnxruntime"] > fastpath.PREFER_ONNXRUNTIME_WITHIN * fastest
    else:
        assert choice.median_ms["onnxruntime"] <= fastpath.PREFER_ONNXRUNTIME_WITHIN * fastest
    assert fast.backend_for(x) == choice.backend
    assert fastpath.matches(expected, got)


def test_a_mismatching_back_end_falls_back_to_eager(monkeypatch, caplog):
    def off_by_a_bit(eager, example, backend):
        return lambda x: eager(x) + 1e-3  # ten times the tolerance

    monkeypatch.setattr(fastpath, "compile_network", off_by_a_bit)
    network = torch.nn.Conv2d(3, 4, 3).eval()
    fast = FastNetwork(network, background=False, backends=fastpath.COMPILED)
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        assert torch.equal(fast(x), network(x))
    choice = fast.choices[fastpath._key(x)]
    assert choice.backend == "eager" and not fast.ready_for(x)
    assert set(choice.rejected) == set(fastpath.COMPILED)
    assert "differs from eager torch by 1.0e-03" in choice.rejected["onnxruntime"]
    assert "not used" in caplog.text


def test_the_backend_setting_is_checked(monkeypatch):
    monkeypatch.setenv("CVDEMO_BACKEND", "tensorrt")
    with pytest.raises(ValueError, match="CVDEMO_BACKEND"):
        fastpath.backend()
    monkeypatch.setenv("CVDEMO_BACKEND", "eager")
    assert fastpath.candidates() == ()
    model = SimpleNamespace(network=torch.nn.Conv2d(3, 4, 3).eval(), device=torch.device("cpu"))
    assert not isinstance(accelerate(model).network, FastNetwork)
    monkeypatch.setenv("CVDEMO_BACKEND", "onnxruntime")
    assert fastpath.candidates() == ("onnxruntime",)
    assert accelerate(model).network.backends == ("onnxruntime",)
    monkeypatch.delenv("CVDEMO_BACKEND")
    assert fastpath.candidates() == fastpath.COMPILED


def test_first_call_answers_eagerly_while_the_compile_runs(require_ready, astronaut):
    require_ready("selfie")
    model = registry.load_model("selfie", "cpu")
    x = model.preprocess(astronaut)
    fast = FastNetwork(model.network)
    with torch.inference_mode():
        first = fast(x)  # starts the compile on a thread and returns the eager answer at once
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
    assert seen, "a hooked layer must see the input, so the compiled graph must not run"


def test_accelerated_detector_finds_the_same_boxes(require_ready, astronaut):
    require_ready("nanodet")
    eager = registry.load_model("nanodet", "cpu")
    fast = accelerate(registry.load_model("nanodet", "cpu"), background=False)
    a, b = eager.detect(astronaut), fast.detect(astronaut)
    assert a.label_names == b.label_names
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)  # pixels; from 1e-4 logits
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_the_engine_label_says_what_answers_now():
    model = SimpleNamespace(network=torch.nn.Conv2d(3, 4, 3).eval(), device=torch.device("cpu"))
    assert fastpath.engine_label(model) == "eager torch"
    accelerate(model, background=False, chosen="torchscript")
    assert fastpath.engine_label(model) == "eager torch"  # nothing seen yet, nothing compiled
    with torch.inference_mode():
        model.network(torch.rand(1, 3, 8, 8))
    assert fastpath.engine_label(model) == "TorchScript"
    model.served_by = "http://127.0.0.1:8000"
    assert fastpath.engine_label(model) == "the inference server at http://127.0.0.1:8000"


def test_compiles_run_one_at_a_time(monkeypatch):
    """Two models preloaded together compiled at once and torch's exporter refused the second
    ("GLOBALS.in_onnx_export must be False"): compiles are serialised."""
    import threading
    import time

    export = torch.onnx.export
    running, most = [0], [0]
    guard = threading.Lock()

    def slow_export(*args, **kwargs):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)  # long enough for the other thread to arrive while this one exports
        try:
            return export(*args, **kwargs)
        finally:
            with guard:
                running[0] -= 1

    monkeypatch.setattr(torch.onnx, "export", slow_export)
    networks = [FastNetwork(torch.nn.Conv2d(3, 4, 3).eval(), backends=("onnxruntime",)) for _ in range(2)]
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        for network in networks:
            network(x)  # each starts its compile on its own thread
    deadline = time.monotonic() + 30
    while not all(n.ready_for(x) for n in networks):
        assert time.monotonic() < deadline, [n.choices for n in networks]
        time.sleep(0.05)
    assert most[0] == 1
    assert all(n.backend_for(x) == "onnxruntime" for n in networks)
