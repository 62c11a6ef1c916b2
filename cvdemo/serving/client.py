"""The caller's side: served models that look exactly like local ones.

``served(wrapper, name, client)`` is a shallow copy of a model wrapper whose batch stages
(``forward``; MTCNN's ``rnet_forward``/``onet_forward``) send the prepared tensor to the
server and turn the reply back into tensors. ``prepare``, ``finish`` and everything built on
them (``detect``, ``segment``, the pages' drawing) run unchanged in the caller's process, so
only tensors travel.

Failure never hangs a page: the connection is made in a background thread, every request has a
timeout, and a server that cannot be reached makes the stage run in-process instead. A live
frame (inside :func:`live_deadline`) that misses its deadline raises :class:`FrameDropped`:
the request is cancelled and the frame dropped, never queued behind newer ones.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import copy
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cvdemo.serving import SERVED_STAGES, FrameDropped, ServingUnavailable, app_name

if TYPE_CHECKING:
    from cvdemo.serving.cluster import LocalHead

ENV_ADDRESS = "CVDEMO_SERVE"  # a Ray address (host:port), or "auto" to start a local server
ENV_BASE_PORT = "CVDEMO_SERVE_PORT"  # with "auto": the first of the local head's eight ports
ENV_DEADLINE_MS = "CVDEMO_FRAME_DEADLINE_MS"
DEFAULT_DEADLINE_S = 0.5  # a live frame older than this is worth less than the next one
REQUEST_TIMEOUT_S = 30.0  # an upload waits this long before the app runs it in-process
RETRY_AFTER_S = 30.0
CONNECT_TIMEOUT_S = 10.0  # pages run in-process meanwhile  # after a failure, stages run in-process this long before trying again

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("cvdemo_frame_deadline", default=None)


@contextlib.contextmanager
def live_deadline(seconds: float | None = None):
    """Requests made inside are live frames: dropped when not answered within ``seconds``."""
    if seconds is None:
        seconds = float(os.environ.get(ENV_DEADLINE_MS, DEFAULT_DEADLINE_S * 1000)) / 1000.0
    token = _deadline.set(seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


class ServingClient:
    """A connection to the inference server at ``address`` (or a local one it starts, ``auto``)."""

    def __init__(self, address: str, models: list[str] | None = None, options=None):
        self.address = address
        self.state = "connecting"  # then "ready" or "unreachable"
        self.message = ""
        self._models = models
        self._options = options
        self._apps: set[str] = set()
        self._handles: dict[str, Any] = {}
        self._failed_at = 0.0
        self._lock = threading.Lock()
        self._head: LocalHead | None = None  # the local Ray head this process started (address "auto")
        self._thread = threading.Thread(target=self._connect, name="cvdemo-serve-connect", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ connection

    def _connect(self) -> None:
        try:
            from cvdemo.serving.cluster import DEFAULT_BASE_PORT, LocalHead, connect, require_ray
            from cvdemo.serving.deployment import ServeOptions, deploy, wait_until_running

            if self.address == "auto":
                from cvdemo import registry

                self._head = LocalHead(int(os.environ.get(ENV_BASE_PORT, DEFAULT_BASE_PORT)))
                self.address = self._head.start()
                atexit.register(self._head.stop)
                models = self._models or [m for m in SERVED_STAGES if registry.is_ready(m)]
                wait_until_running(deploy(models, self._options or ServeOptions()))
            else:
                connect(self.address, timeout_s=CONNECT_TIMEOUT_S)
            _, serve = require_ray()  # after connecting: Ray reads its settings when imported
            running = {name for name, app in serve.status().applications.items() if str(app.status).endswith("RUNNING")}
            with self._lock:
                self._apps = running
                self.state, self.message = "ready", ""
        except Exception as exc:  # Ray missing, nothing listening, a deployment that failed: run in-process
            self._fail(f"{exc.__class__.__name__}: {exc}")

    def _fail(self, message: str) -> None:
        with self._lock:
            self.state, self.message = "unreachable", message
            self._failed_at = time.monotonic()

    def wait(self, timeout_s: float) -> str:
        """Wait up to ``timeout_s`` for the connection; returns the state."""
        self._thread.join(timeout_s)
        return self.state

    def serves(self, model: str, stage: str = "forward") -> bool:
        return app_name(model, stage) in self._apps

    def usable(self) -> bool:
        if self.state == "ready":
            return True
        if self.state == "unreachable" and self._apps and time.monotonic() - self._failed_at > RETRY_AFTER_S:
            return True  # try again now and then: the server may be back
        return False

    def _handle(self, name: str):
        if name not in self._handles:
            from ray import serve

            self._handles[name] = serve.get_app_handle(name)
        return self._handles[name]

    # ------------------------------------------------------------------ requests

    def forward(self, model: str, stage: str, inputs: np.ndarray, timeout_s: float | None = None) -> tuple[np.ndarray, ...]:
        """One request: ``inputs`` ``(k, ...)`` → that request's outputs. Raises FrameDropped inside
        :func:`live_deadline` when the deadline passes, ServingUnavailable when the server fails."""
        deadline = _deadline.get()
        try:
            expires_at = None if deadline is None else time.time() + deadline
            response = self._handle(app_name(model, stage)).remote(inputs, expires_at)
        except Exception as exc:
            self._fail(f"{exc.__class__.__name__}: {exc}")
            raise ServingUnavailable(self.message) from exc
        try:
            result = response.result(timeout_s=deadline or timeout_s or REQUEST_TIMEOUT_S)
        except TimeoutError as exc:
            response.cancel()
            if deadline is not None:
                raise FrameDropped(f"{model}: no answer within {deadline * 1000:.0f} ms") from exc
            self._fail(f"{model} did not answer within {timeout_s or REQUEST_TIMEOUT_S:.0f} s")
            raise ServingUnavailable(self.message) from exc
        except Exception as exc:  # a dead replica, a lost connection
            self._fail(f"{exc.__class__.__name__}: {exc}")
            raise ServingUnavailable(self.message) from exc
        if self.state != "ready":
            with self._lock:
                self.state, self.message = "ready", ""
        if result is None:  # the server found it expired before running it
            raise FrameDropped(f"{model}: expired in the server's queue")
        return result

    def replica_stats(self, model: str, stage: str = "forward", timeout_s: float = 30.0) -> dict:
        """One replica's counters: recent batch sizes, batch size histogram, requests, in flight."""
        return self._handle(app_name(model, stage)).stats.remote().result(timeout_s=timeout_s)

    def status(self, timeout_s: float = 2.0) -> dict:
        """Where inference runs, for the Home page: address, replicas, recent batch sizes, queue."""
        report: dict[str, Any] = {"mode": "served", "address": self.address, "state": self.state,
                                  "message": self.message, "deployments": []}
        if self.state != "ready":
            return report
        from ray import serve

        try:
            applications = serve.status().applications
        except Exception as exc:
            report["message"] = f"status unavailable: {exc}"
            return report
        deadline = time.monotonic() + timeout_s
        for name in sorted(self._apps):
            app = applications.get(name)
            replicas = sum(count for deployment in (app.deployments.values() if app else ())
                           for state, count in deployment.replica_states.items() if str(state).endswith("RUNNING"))
            row = {"deployment": name, "replicas": replicas, "recent_batches": [], "in_flight": None, "queue_ms_p50": None}
            remaining = deadline - time.monotonic()
            if remaining > 0:
                try:
                    stats = self._handle(name).stats.remote().result(timeout_s=remaining)
                    row.update(recent_batches=stats["recent_batches"][-8:], in_flight=stats["in_flight"],
                               queue_ms_p50=stats.get("queue_ms_p50"))
                except Exception:  # a busy replica: leave its numbers out rather than wait
                    pass
            report["deployments"].append(row)
        return report

    def close(self) -> None:
        if self._head is not None:
            self._head.stop()
            self._head = None


class RemoteStage:
    """A wrapper's batch stage run on the server, with the local stage as the fallback."""

    def __init__(self, client: ServingClient, model: str, stage: str, local, device: torch.device):
        self.client, self.model, self.stage, self.local, self.device = client, model, stage, local, device

    def __call__(self, batch: torch.Tensor):
        if not (self.client.usable() and self.client.serves(self.model, self.stage)):
            return self.local(batch)
        try:
            arrays = self.client.forward(self.model, self.stage, batch.detach().cpu().float().numpy())
        except ServingUnavailable:
            return self.local(batch)
        # Ray hands back read-only views of its object store; torch wants memory it may write
        return tuple(torch.from_numpy(np.array(a)).to(self.device) for a in arrays)


def served(wrapper, model: str, client: ServingClient):
    """``wrapper`` with its batch stages on the server (a shallow copy: the network is shared,
    and explainability code that reaches ``network`` still runs it locally)."""
    stages = SERVED_STAGES.get(model, ())
    if not stages:
        return wrapper
    remote = copy.copy(wrapper)
    for stage in stages:
        setattr(remote, stage, RemoteStage(client, model, stage, getattr(wrapper, stage), wrapper.device))
    remote.served_by = client.address
    return remote


def serve_if_configured(wrapper, model: str):
    """``wrapper`` served when ``$CVDEMO_SERVE`` is set and serves ``model``, else itself."""
    client = serving_client()
    return wrapper if client is None or model not in SERVED_STAGES else served(wrapper, model, client)


_clients: dict[str, ServingClient] = {}
_clients_lock = threading.Lock()


def serving_client() -> ServingClient | None:
    """The process's client for ``$CVDEMO_SERVE``, or None when inference runs in-process."""
    address = os.environ.get(ENV_ADDRESS, "").strip()
    if not address:
        return None
    with _clients_lock:
        if address not in _clients:
            _clients[address] = ServingClient(address)
        return _clients[address]
