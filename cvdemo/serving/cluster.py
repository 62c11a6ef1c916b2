"""A Ray head of our own on loopback, or a connection to an existing cluster.

``ray start --head --block`` runs as our child process: every service of the head listens on
``127.0.0.1`` (Ray's local-only mode) at ``base_port`` … ``base_port + 7`` (GCS, node manager, object manager, client
server, dashboard agent ×2, runtime-env agent, metrics), the dashboard is off, and the temp dir
is ours. Ending that one process ends the head and its workers (``--block`` takes them down).
Workers take ports from Ray's own worker range on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cvdemo.serving import ServingUnavailable

DEFAULT_BASE_PORT = 6379  # Ray's usual GCS port
HEAD_PORTS = 8  # base … base + 7
OBJECT_STORE_BYTES = 256 << 20  # tensors of a few frames at a time; Ray's default takes 30 % of RAM


# Ray advertises and binds the machine's network address even for a single node; in its
# "local only" mode (what it uses on laptops) every service binds 127.0.0.1. Read when Ray is
# imported, so it is set before the first import.
LOOPBACK_ONLY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


TOKEN_FILE = Path.home() / ".ray" / "auth_token"  # Ray's own default place


def use_token_auth() -> None:
    """Token authentication, as ``ray start`` enables it when Ray's token file exists: a driver
    needs the same setting to be let in. Ray creates the file for a head when it is missing."""
    if "RAY_AUTH_MODE" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
        if not TOKEN_FILE.exists():
            subprocess.run([_ray_executable(), "get-auth-token", "--generate"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True, timeout=60)
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:
            # Ray read its settings when imported: refresh them, as Ray does when it turns tokens on
            from ray._raylet import Config  # type: ignore[attr-defined]  # in the compiled module; ray's _raylet.pyi omits it

            Config.initialize("")


def is_loopback(address: str) -> bool:
    return address.startswith(("127.", "localhost"))


def require_ray():
    # A driver whose cluster went away must not start a fresh local Ray behind our back.
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise ServingUnavailable("Ray is not installed: pip install -r requirements-serve.txt") from exc
    return ray, serve


def _ray_executable() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


class LocalHead:
    """A single-node Ray head started and owned by this process."""

    def __init__(self, base_port: int = DEFAULT_BASE_PORT, num_cpus: int | None = None, num_gpus: int | None = None,
                 temp_dir: str | None = None):
        self.base_port = base_port
        self.address = f"127.0.0.1:{base_port}"
        self.num_cpus = num_cpus or os.cpu_count() or 1
        self.num_gpus = num_gpus
        # Ray's unix sockets live under the temp dir; their paths must stay short.
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix=f"cvray{base_port}-", dir="/tmp")
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        port = self.base_port
        command = [
            _ray_executable(), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
            f"--port={port}", f"--node-manager-port={port + 1}", f"--object-manager-port={port + 2}",
            f"--ray-client-server-port={port + 3}", f"--dashboard-agent-listen-port={port + 4}",
            f"--dashboard-agent-grpc-port={port + 5}", f"--runtime-env-agent-port={port + 6}",
            f"--metrics-export-port={port + 7}", "--include-dashboard=false", "--include-log-monitor=false",
            f"--num-cpus={self.num_cpus}", f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
        ]
        if self.num_gpus is not None:
            command.append(f"--num-gpus={self.num_gpus}")
        return command

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the head and wait until a driver can connect; returns its address."""
        with socket.socket() as probe:  # never join a head someone else left on our port
            if probe.connect_ex(("127.0.0.1", self.base_port)) == 0:
                raise ServingUnavailable(f"port {self.base_port} is in use (another Ray head?); pick other ports")
        use_token_auth()
        log = open(Path(self.temp_dir) / "head.log", "w")
        # the replicas import cvdemo from this checkout, as the driver does
        root = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=python_path, **LOOPBACK_ONLY_ENV)
        # A session of its own: Ctrl-C in a terminal reaches us, and we end the head in order.
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        connect(self.address, timeout_s=timeout_s, alive=lambda: self.process.poll() is None)
        return self.address

    def stop(self, timeout_s: float = 60.0) -> None:
        ray, serve = require_ray()
        try:
            if ray.is_initialized():
                # Serve first: its routers in this process stop polling a cluster that is going away
                serve.shutdown()
        finally:
            # whatever Serve says, the head goes: it is ours
            if ray.is_initialized():
                ray.shutdown()
            self._end_head(timeout_s)

    def _end_head(self, timeout_s: float) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def connect(address: str, timeout_s: float = 30.0, alive=lambda: True) -> None:
    """Join the Ray cluster at ``address`` as a driver, retrying until ``timeout_s``."""
    if is_loopback(address):
        os.environ.update(LOOPBACK_ONLY_ENV)
    if TOKEN_FILE.exists():
        use_token_auth()
    ray, _ = require_ray()
    if is_loopback(address):
        # Ray was imported before the variable was set (it reads it once, at import): the same
        # switch, where Ray keeps it, or the driver would look for the head on the network address.
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    if ray.is_initialized():
        return
    options = {"namespace": "cvdemo", "log_to_driver": False, "logging_level": "ERROR"}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # a plain TCP knock first: ray.init on a port where nothing listens retries for a minute
            host, _, port = address.rpartition(":")
            socket.create_connection((host, int(port)), timeout=2.0).close()
            ray.init(address=address, **options)
            return
        except (OSError, RuntimeError, ValueError) as exc:  # ConnectionError is an OSError
            if time.monotonic() > deadline or not alive():
                raise ServingUnavailable(f"no Ray cluster answers at {address}: {exc}") from exc
            time.sleep(1.0)
