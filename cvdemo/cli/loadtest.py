"""``python -m cvdemo loadtest``: N simulated webcam streams, in-process or through the inference server."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from cvdemo.cli import CliError
from cvdemo.cli._common import print_json

KEYS = ("backend", "model", "streams", "seconds", "frames", "fps", "per_stream_fps", "p50_ms", "p95_ms", "dropped",
        "mean_batch", "max_batch")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "loadtest", help="simulate N webcam streams against one model, in-process or served",
        description="Runs N simulated webcam streams at camera rate (real photos as 640×480 frames) through the same "
                    "prepare/forward/finish code the live views use, for S seconds, and prints frames, aggregate and "
                    "per-stream FPS, p50/p95 latency, dropped frames and the batch sizes the server ran. "
                    "--backend serve uses $CVDEMO_SERVE (or --address); without either it starts a local server "
                    "on 127.0.0.1 for the run.")
    parser.add_argument("--model", required=True, help="registry name, e.g. nanodet")
    parser.add_argument("--streams", type=int, default=1, help="simulated viewers (default 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to run (default 10, at most 600)")
    parser.add_argument("--backend", choices=("local", "serve"), default="local")
    parser.add_argument("--fps", type=float, default=30.0, help="camera frame rate of each stream (default 30)")
    parser.add_argument("--address", default=None, help="Ray address of a running `cvdemo serve` (default: $CVDEMO_SERVE)")
    parser.add_argument("--port", type=int, default=None, metavar="BASE",
                        help="ports BASE … BASE+7 for the local server a serve run starts (default 6379 …)")
    parser.add_argument("--max-batch-size", type=int, default=8, help="local server only (default 8)")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="local server only (default 5)")
    parser.add_argument("--concurrent-batches", type=int, default=None,
                        help="local server only: batches a replica runs at once (default: two per CPU, two on a GPU)")
    parser.add_argument("--warm-seconds", type=float, default=5.0,
                        help="unmeasured load first, while new batch shapes are compiled (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    parser.add_argument("--device", default=None, help="cuda, mps, cpu or auto (in-process models)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cvdemo import registry
    from cvdemo.serving import SERVED_STAGES
    from cvdemo.serving.loadtest import MAX_SECONDS, MAX_STREAMS, run_streams

    if args.model not in SERVED_STAGES:
        raise CliError(f"cannot load-test {args.model!r}; models a live view uses: {', '.join(SERVED_STAGES)}")
    if not 1 <= args.streams <= MAX_STREAMS:
        raise CliError(f"--streams must be between 1 and {MAX_STREAMS}, got {args.streams}")
    if not 0 < args.seconds <= MAX_SECONDS:
        raise CliError(f"--seconds must be in (0, {MAX_SECONDS}], got {args.seconds}")
    if not 0 < args.fps <= 120:
        raise CliError(f"--fps must be in (0, 120], got {args.fps}")
    if not 0 <= args.warm_seconds <= MAX_SECONDS:
        raise CliError(f"--warm-seconds must be in [0, {MAX_SECONDS}], got {args.warm_seconds}")
    wrapper = registry.load_model(args.model, args.device)
    if args.backend == "local":
        from cvdemo.fastpath import accelerate

        # the network as the app's live views run it in-process (cvdemo.ui.common.cached_model(fast=True))
        report = run_streams(accelerate(wrapper), args.model, "local", args.streams, args.seconds, args.fps,
                             warm_seconds=args.warm_seconds)
    else:
        # Ray's driver prints the cluster's warnings (a controller killed at shutdown…) on stdout,
        # which must hold nothing but the report
        with contextlib.redirect_stdout(sys.stderr):
            report = _served_run(wrapper, args)
    if args.json:
        print_json(report.as_dict())
    else:
        for key in KEYS:
            print(f"{key}: {getattr(report, key)}")
    return 0


def _served_run(wrapper, args: argparse.Namespace):
    from cvdemo.serving import SERVED_STAGES, ServingUnavailable
    from cvdemo.serving.client import ServingClient, served
    from cvdemo.serving.cluster import DEFAULT_BASE_PORT, LocalHead
    from cvdemo.serving.deployment import ServeOptions, deploy, wait_until_running
    from cvdemo.serving.loadtest import run_streams

    address = args.address or os.environ.get("CVDEMO_SERVE", "").strip()
    head = None
    try:
        if not address or address == "auto":
            head = LocalHead(args.port or DEFAULT_BASE_PORT)
            address = head.start()
            wait_until_running(deploy([args.model], ServeOptions(max_batch_size=args.max_batch_size,
                                                                 batch_wait_s=args.batch_wait_ms / 1000.0,
                                                                 concurrent_batches=args.concurrent_batches)))
        client = ServingClient(address)
        if client.wait(120) != "ready":
            raise CliError(f"the inference server at {address} is not usable: {client.message}")
        stage = SERVED_STAGES[args.model][0]
        if not client.serves(args.model, stage):
            raise CliError(f"the server at {address} does not serve {args.model}")
        return run_streams(served(wrapper, args.model, client), args.model, "serve", args.streams, args.seconds,
                           args.fps, batch_counts=lambda: client.replica_stats(args.model, stage)["batch_counts"],
                           warm_seconds=args.warm_seconds)
    except ServingUnavailable as exc:
        raise CliError(str(exc)) from exc
    finally:
        if head is not None:
            head.stop()
