"""``python -m cvdemo serve``: the models behind Ray Serve, one deployment each, until Ctrl-C."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import threading

from cvdemo.cli import CliError
from cvdemo.cli._common import print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the models to many app instances with Ray Serve (batched across viewers)",
        description="Starts a Ray head on 127.0.0.1 (or joins a cluster with --address) and deploys one Ray Serve "
                    "application per model, each batching the prepared frames of all viewers with @serve.batch. "
                    "Point the app at it with CVDEMO_SERVE=ADDRESS. Prints one JSON object when every deployment "
                    "runs, then serves until Ctrl-C. Needs `pip install -r requirements-serve.txt`.")
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                        help="models to serve (default: every servable model whose weights are ready)")
    parser.add_argument("--address", default=None, help="join this Ray cluster (host:port of `ray start --head`) "
                        "instead of starting a local head")
    parser.add_argument("--port", type=int, default=None, metavar="BASE",
                        help="local head only: its eight ports are BASE … BASE+7 (default 6379 …)")
    parser.add_argument("--num-cpus", type=int, default=None, help="local head only: CPUs Ray may use (default: all)")
    parser.add_argument("--max-batch-size", type=int, default=8, help="largest batch a replica runs (default 8)")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0,
                        help="how long a replica waits to fill a batch after its first request (default 5 ms)")
    parser.add_argument("--max-replicas", type=int, default=2,
                        help="autoscaling: at most this many replicas per model, one per --max-batch-size requests in flight (default 2)")
    parser.add_argument("--cpus-per-replica", type=float, default=0.1, help="Ray CPUs a replica reserves (default 0.1)")
    parser.add_argument("--gpu-fraction", type=float, default=None,
                        help="GPU share per replica when the cluster has GPUs (default: 1 / number of deployments)")
    parser.add_argument("--device", default=None, help="device inside the replicas: cuda, mps, cpu (default: the best there)")
    parser.add_argument("--concurrent-batches", type=int, default=None,
                        help="batches a replica runs at once (default: two per CPU of a node, two with a GPU)")
    parser.set_defaults(func=run)


def options_from(args: argparse.Namespace):
    from cvdemo.serving.deployment import ServeOptions

    if args.max_batch_size < 1:
        raise CliError(f"--max-batch-size must be at least 1, got {args.max_batch_size}")
    if not 0 <= args.batch_wait_ms <= 1000:
        raise CliError(f"--batch-wait-ms must be between 0 and 1000, got {args.batch_wait_ms}")
    if args.max_replicas < 1:
        raise CliError(f"--max-replicas must be at least 1, got {args.max_replicas}")
    if args.concurrent_batches is not None and not 1 <= args.concurrent_batches <= 64:
        raise CliError(f"--concurrent-batches must be between 1 and 64, got {args.concurrent_batches}")
    if args.gpu_fraction is not None and not 0 < args.gpu_fraction <= 1:
        raise CliError(f"--gpu-fraction must be in (0, 1], got {args.gpu_fraction}")
    return ServeOptions(max_batch_size=args.max_batch_size, batch_wait_s=args.batch_wait_ms / 1000.0,
                        max_replicas=args.max_replicas, cpus_per_replica=args.cpus_per_replica,
                        gpu_fraction=args.gpu_fraction, device=args.device, concurrent_batches=args.concurrent_batches)


def served_models(requested: list[str] | None) -> list[str]:
    from cvdemo import registry
    from cvdemo.serving import SERVED_STAGES

    if requested is None:
        models = [m for m in SERVED_STAGES if registry.is_ready(m)]
        if not models:
            raise CliError("no servable model is ready; run `python -m cvdemo weights` to see what to fetch")
        return models
    unknown = [m for m in requested if m not in SERVED_STAGES]
    if unknown:
        raise CliError(f"cannot serve {', '.join(unknown)}; servable: {', '.join(SERVED_STAGES)}")
    missing = [m for m in requested if not registry.is_ready(m)]
    if missing:
        raise CliError(f"weights missing for {', '.join(missing)}; see `python -m cvdemo weights`")
    return requested


def run(args: argparse.Namespace) -> int:
    from cvdemo.serving import ServingUnavailable
    from cvdemo.serving.cluster import DEFAULT_BASE_PORT, LocalHead, connect, require_ray
    from cvdemo.serving.deployment import deploy, wait_until_running

    options = options_from(args)
    models = served_models(args.models)
    if importlib.util.find_spec("ray") is None:  # not imported yet: Ray reads its settings at import
        raise CliError("Ray is not installed: pip install -r requirements-serve.txt")
    head, names = None, []
    stop = threading.Event()
    try:
        if args.address:
            connect(args.address)
            address = args.address
        else:
            head = LocalHead(args.port or DEFAULT_BASE_PORT, num_cpus=args.num_cpus)
            address = head.start()
        names = deploy(models, options)
        wait_until_running(names)
        # after ray.init, which installs Ray's own SIGTERM handler (it aborts without cleaning up)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print_json({"address": address, "deployments": names, "max_batch_size": options.max_batch_size,
                    "batch_wait_ms": options.batch_wait_s * 1000, "max_replicas": options.max_replicas,
                    "use": f"CVDEMO_SERVE={address} streamlit run app.py"})
        stop.wait()
    except ServingUnavailable as exc:
        raise CliError(str(exc)) from exc
    except KeyboardInterrupt:
        pass
    finally:
        if head is not None:
            head.stop()
        elif names:  # a joined cluster keeps running; only our applications go
            _, serve = require_ray()
            for name in names:
                serve.delete(name)
    return 0
