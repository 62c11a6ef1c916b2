"""One Ray Serve deployment per model stage: requests batched with ``@serve.batch``.

A request is one caller's prepared input, ``(k, ...)`` float32 (k = 1 for a frame, the crops of
one photo for MTCNN's stages); the reply is that caller's slice of every output. A live frame
whose deadline has passed when its batch starts is left out of it: late frames cost nothing. A replica
loads the model once, concatenates the requests of a batch, runs ``forward`` once in a worker
thread (the replica keeps taking requests meanwhile) and splits the outputs.

Several batches run at once (``concurrent_batches``). ``@serve.batch`` closes a batch within its
wait time and then queues it for a free slot; with one slot, batches of one or two frames queued
behind each other while the forward ran, and the frames waited there (at 8 streams on 2 cores:
mean batch 1.2, 200 ms of queueing per frame). More slots keep the cores busy the way in-process
sessions do, each with its own forward; on a GPU the wait time is what grows batches.

The network runs through :mod:`cvdemo.fastpath` as it does in-process (ONNX Runtime or TorchScript,
whichever is faster, on the CPU unless ``CVDEMO_BACKEND=eager``): a compiled graph runs without
holding the GIL, so the replica's event loops keep taking requests while a forward runs.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from cvdemo.serving import SERVED_STAGES, app_name
from cvdemo.serving.cluster import require_ray


@dataclass(frozen=True)
class ServeOptions:
    max_batch_size: int = 8
    batch_wait_s: float = 0.005
    max_replicas: int = 2
    cpus_per_replica: float = 0.1  # replicas mostly wait; eleven of them fit on two CPUs
    gpu_fraction: float | None = None  # None: 1 / (number of deployments) when the cluster has a GPU
    device: str | None = None  # None: the replica's best device (CUDA, then MPS, then CPU)
    concurrent_batches: int | None = None  # None: two per CPU of a node without a GPU, two with one
    backend: str | None = None  # one of cvdemo.fastpath.BACKENDS; None: $CVDEMO_BACKEND as in-process

    def slots(self, cpus_per_node: float, has_gpu: bool) -> int:
        """How many batches a replica runs at once."""
        if self.concurrent_batches is not None:
            return self.concurrent_batches
        return 2 if has_gpu else max(2, 2 * int(cpus_per_node))


class ModelServer:
    """The replica: ``__call__(inputs)`` per request, :meth:`run_batch` once per batch."""

    def __init__(self, model: str, stage: str, device: str | None, backend: str | None = None):
        from cvdemo import registry
        from cvdemo.device import configure_torch
        from cvdemo.fastpath import accelerate

        self.threads = configure_torch()
        self.model = model
        wrapper = registry.load_model(model, device)
        wrapper = accelerate(wrapper, chosen=backend)  # compiles each new batch shape in the background, eager meanwhile
        self.forward = getattr(wrapper, stage)
        self.waits_ms: deque[float] = deque(maxlen=256)  # arrival → batch start, per request
        self.batch_sizes: deque[int] = deque(maxlen=32)
        self.batch_counts: dict[int, int] = {}  # batch size → how many batches had it, since the start
        self.in_flight = 0
        self.requests = 0

    async def __call__(self, inputs: np.ndarray, expires_at: float | None = None) -> tuple[np.ndarray, ...] | None:
        """One caller's prepared input; ``expires_at`` (Unix time, NTP-synchronised clocks) for a live frame, after which
        nobody waits for it and it is not computed (None comes back)."""
        self.in_flight += 1
        try:
            # serve.batch (applied in _deployment_class) turns run_batch into a call per request with its own reply
            return await self.run_batch((inputs, expires_at, time.monotonic()))  # type: ignore[arg-type, return-value]
        finally:
            self.in_flight -= 1

    async def run_batch(self, requests: list[tuple[np.ndarray, float | None, float]]) -> list[tuple[np.ndarray, ...] | None]:
        import torch

        from cvdemo.batching import split_outputs

        now, started = time.time(), time.monotonic()
        self.waits_ms.extend((started - arrived) * 1000.0 for _, _, arrived in requests)
        wanted = [i for i, (_, expires_at, _) in enumerate(requests) if expires_at is None or expires_at > now]
        replies: list[tuple[np.ndarray, ...] | None] = [None] * len(requests)
        if not wanted:
            return replies
        inputs = [requests[i][0] for i in wanted]
        self.batch_sizes.append(len(inputs))
        self.batch_counts[len(inputs)] = self.batch_counts.get(len(inputs), 0) + 1
        self.requests += len(inputs)
        outputs = await asyncio.to_thread(self._forward, torch.from_numpy(np.concatenate(inputs)))
        for index, part in zip(wanted, split_outputs(outputs, [len(x) for x in inputs])):
            replies[index] = tuple(t.cpu().numpy() for t in part)
        return replies

    def _forward(self, batch):
        import torch

        # Ray starts replicas with OMP_NUM_THREADS=1 (their CPU share rounded down), and OpenMP
        # gives each new thread that count; the forward's thread gets the cores again.
        torch.set_num_threads(self.threads)
        return self.forward(batch)

    def stats(self) -> dict:
        waits = list(self.waits_ms)
        return {"model": self.model, "recent_batches": list(self.batch_sizes), "in_flight": self.in_flight,
                "requests": self.requests, "batch_counts": dict(self.batch_counts),
                "queue_ms_p50": round(float(np.median(waits)), 1) if waits else None}


def _deployment_class(max_batch_size: int, batch_wait_s: float, slots: int):
    """ModelServer as a Serve deployment (built lazily: Ray is optional)."""
    _, serve = require_ray()

    class Batched(ModelServer):
        run_batch = serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_s,
                                max_concurrent_batches=slots)(ModelServer.run_batch)

    Batched.__name__ = Batched.__qualname__ = "ModelServer"
    return serve.deployment(Batched)


def deploy(models: list[str], options: ServeOptions = ServeOptions()) -> list[str]:
    """Deploy every stage of ``models`` on the connected cluster; returns the application names."""
    ray, serve = require_ray()
    unknown = [m for m in models if m not in SERVED_STAGES]
    if unknown:
        raise ValueError(f"cannot serve {', '.join(unknown)}; servable: {', '.join(SERVED_STAGES)}")
    serve.start(proxy_location="Disabled")  # handles only: no HTTP port is opened
    stages = [(model, stage) for model in models for stage in SERVED_STAGES[model]]
    resources = ray.cluster_resources()
    has_gpu = resources.get("GPU", 0) > 0 and options.device in (None, "cuda")
    actor_options: dict = {"num_cpus": options.cpus_per_replica}
    if has_gpu:
        actor_options["num_gpus"] = options.gpu_fraction or round(1.0 / len(stages), 3)
    nodes = max(1, sum(1 for node in ray.nodes() if node.get("Alive")))
    slots = options.slots(resources.get("CPU", 1) / nodes, has_gpu)
    deployment = _deployment_class(options.max_batch_size, options.batch_wait_s, slots)
    targets = []
    for model, stage in stages:
        bound = deployment.options(
            name=app_name(model, stage),
            ray_actor_options=actor_options,
            max_ongoing_requests=max(4, slots) * options.max_batch_size,
            # a replica per max_batch_size requests in flight, up to max_replicas
            autoscaling_config={"min_replicas": 1, "max_replicas": options.max_replicas,
                                "target_ongoing_requests": options.max_batch_size,
                                "upscale_delay_s": 3, "downscale_delay_s": 60},
        ).bind(model, stage, options.device, options.backend)
        targets.append(serve.RunTarget(bound, name=app_name(model, stage), route_prefix=None))
    # all at once: the replicas load their models in parallel
    serve.run_many(targets, wait_for_applications_running=False)
    names = [target.name for target in targets]
    return names


def wait_until_running(names: list[str], timeout_s: float = 300.0) -> None:
    import time

    _, serve = require_ray()
    deadline = time.monotonic() + timeout_s
    while True:
        applications = serve.status().applications
        states = {name: str(getattr(applications.get(name), "status", "MISSING")) for name in names}
        if all(state.endswith("RUNNING") for state in states.values()):
            return
        failed = {n: s for n, s in states.items() if s.endswith(("DEPLOY_FAILED", "UNHEALTHY"))}
        if failed:
            messages = "; ".join(f"{n}: {applications[n].message[:300]}" for n in failed)
            raise RuntimeError(f"deployments failed: {messages}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"deployments not running after {timeout_s:.0f} s: {states}")
        time.sleep(1.0)
