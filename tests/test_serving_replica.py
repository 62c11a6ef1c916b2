"""The replica class on its own (no Ray): its back end, batch slots and queue figures.

``run_batch`` is what ``@serve.batch`` calls with the requests of one batch; here it is called
directly. Served-vs-in-process equality through a real Ray is tests/test_serving.py's.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import torch

from cvdemo import registry
from cvdemo.fastpath import FastNetwork
from cvdemo.serving.deployment import ModelServer, ServeOptions


def _inputs(name: str, photo: np.ndarray) -> np.ndarray:
    return registry.load_model(name, "cpu").prepare(photo).inputs.numpy()


def _wait_for_trace(network: FastNetwork, x: torch.Tensor, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not network.ready_for(x):
        assert time.monotonic() < deadline, "the background trace never finished"
        time.sleep(0.2)


def test_a_replica_runs_the_network_as_in_process_views_do(require_ready, astronaut, monkeypatch):
    """A compiled back end unless CVDEMO_BACKEND=eager, matching eager to the fast path's 1e-4."""
    require_ready("nanodet")
    monkeypatch.delenv("CVDEMO_BACKEND", raising=False)
    fast = ModelServer("nanodet", "forward", "cpu")
    eager = ModelServer("nanodet", "forward", "cpu", backend="eager")
    assert isinstance(fast.forward.__self__.network, FastNetwork)
    assert not isinstance(eager.forward.__self__.network, FastNetwork)
    x = _inputs("nanodet", astronaut)
    fast.forward(torch.from_numpy(x))  # starts the trace for this batch shape
    _wait_for_trace(fast.forward.__self__.network, torch.from_numpy(x))
    (got,) = asyncio.run(fast.run_batch([(x, None, time.monotonic())]))
    (expected,) = asyncio.run(eager.run_batch([(x, None, time.monotonic())]))
    assert got is not None and expected is not None
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-4)


def test_expired_frames_are_left_out_and_waits_are_reported(require_ready, astronaut):
    require_ready("nanodet")
    server = ModelServer("nanodet", "forward", "cpu", backend="eager")
    x = _inputs("nanodet", astronaut)
    arrived = time.monotonic() - 0.25  # queued for 250 ms before its batch starts
    replies = asyncio.run(server.run_batch([(x, time.time() - 1.0, arrived), (x, None, arrived)]))
    assert replies[0] is None and replies[1] is not None
    stats = server.stats()
    assert stats["batch_counts"] == {1: 1}  # only the live one was computed
    assert stats["queue_ms_p50"] >= 250.0


@pytest.mark.parametrize(("options", "cpus", "gpu", "slots"), [
    (ServeOptions(), 2.0, False, 4),  # two per CPU: in-process sessions each run their own forward
    (ServeOptions(), 16.0, False, 32),
    (ServeOptions(), 0.5, False, 2),
    (ServeOptions(), 16.0, True, 2),  # a GPU: batches grow in the wait time instead
    (ServeOptions(concurrent_batches=1), 2.0, False, 1),
])
def test_batch_slots_per_replica(options, cpus, gpu, slots):
    assert options.slots(cpus, gpu) == slots
