"""``python -m cvdemo bench``: median latency, FPS and peak memory per ready model and device."""

from __future__ import annotations

import argparse

from cvdemo.bench import BenchResult, as_dicts, machine_summary, run_all
from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, print_json
from cvdemo.device import pick_device


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmark every ready model (latency, FPS, peak memory)",
                                   description="Times each ready model end to end on a 640×480 photo, plus the feature benchmarks (occlusion, face pipeline, …). Figures are printed, never asserted.")
    parser.add_argument("models", nargs="*", help="only these registry names (default: all ready models)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case (median reported; default 10)")
    parser.add_argument("--no-extra", action="store_true", help="only the per-model cases")
    parser.add_argument("--cases", metavar="TEXT", help="only the feature benchmarks whose function name contains TEXT "
                                                         "(e.g. backend, live_frame), and no per-model cases")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_device_option(parser)
    parser.set_defaults(func=run)


# Rows the feature benchmarks report under a name that is not a registry model.
CASE_NAMES = ("overlay", "mtcnn+dlib_resnet")


def check_names(names: list[str]) -> None:
    """Every name must be a ready model or a feature benchmark's, before minutes of timing."""
    from cvdemo import registry

    for name in names:
        if name in CASE_NAMES:
            continue
        try:
            spec = registry.get(name)
        except KeyError:
            ready = ", ".join(spec.name for spec in registry.all_models() if spec.ready)
            raise CliError(f"unknown model {name!r}; ready models: {ready}") from None
        if not spec.ready:
            raise CliError(f"{name} is not ready on this machine; to fix: {spec.status().action}")


def run(args: argparse.Namespace) -> int:
    check_names(args.models)
    if args.runs < 1:
        raise CliError(f"--runs must be at least 1, got {args.runs}")
    device = pick_device(args.device)
    summary = machine_summary(device)
    if not args.json:
        print(" · ".join(f"{k}: {v}" for k, v in summary.items()))
        print(f"{'model':<20} {'case':<46} {'median ms':>10} {'FPS':>8} {'peak MB':>9}")

    def show(result: BenchResult) -> None:
        if not args.json:
            note = f"  {result.note}" if result.note else ""
            print(f"{result.model:<20} {result.case:<46} {result.median_ms:>10.1f} {result.fps:>8.1f} {result.peak_memory_mb:>9.0f}{note}", flush=True)

    results = run_all(device, args.runs, args.models or None, include_extra=not args.no_extra, on_result=show,
                      cases=args.cases)
    missing = sorted(set(args.models) - {result.model for result in results})
    if missing:
        raise CliError(f"nothing to time for {', '.join(missing)}")
    if args.json:
        print_json({"machine": summary, "results": as_dicts(results)})
    return 0
