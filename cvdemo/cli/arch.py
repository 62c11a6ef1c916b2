"""``python -m cvdemo arch``: the architecture table (parameters, MACs, depth, accuracy) and layer lists."""

from __future__ import annotations

import argparse
import sys

from cvdemo.cli import CliError
from cvdemo.cli._common import print_json


def register(subparsers) -> None:
    from cvdemo.architectures.catalog import BY_NAME

    parser = subparsers.add_parser(
        "arch", help="architecture table: parameters, MACs/FLOPs, depth, ImageNet accuracy",
        description="Counts parameters, multiply-accumulates (MACs; FLOPs = 2×MACs) and depth on torchvision's "
                    "builders without weights, beside ImageNet accuracy from the weights' metadata and the "
                    "figures quoted in lectures and papers. Results are cached under weights/converted/.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"networks (default: all): {', '.join(BY_NAME)}")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--seeds", action="store_true", help="compare with the lecture/paper figures instead")
    parser.add_argument("--layers", action="store_true",
                        help="list every layer of the named network(s): output shape, MACs, receptive field")
    parser.add_argument("--size", type=int, default=None, help="input size for --layers (default: the network's)")
    parser.add_argument("--recount", action="store_true", help="ignore the cache and count again")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cvdemo.architectures import catalog, table
    from cvdemo.architectures.graph import analyse

    unknown = [n for n in args.names if n not in catalog.BY_NAME]
    if unknown:
        raise CliError(f"unknown network(s) {', '.join(unknown)}; known: {', '.join(catalog.BY_NAME)}")
    names = args.names or None

    if args.layers:
        if not args.names:
            raise CliError("--layers needs at least one NAME")
        payload = {}
        for name in args.names:
            spec = catalog.get(name)
            size = args.size or spec.input_size
            if size < 32:
                raise CliError("--size must be at least 32")
            graph = analyse(spec.build("meta"), (size, size), name)
            payload[name] = graph.rows()
            if not args.json:
                print(f"{spec.title} at {size}×{size}: depth {graph.depth}, {graph.total_macs / 1e9:.3f} GMACs")
                print(f"{'layer':<34} {'op':<20} {'output':<14} {'MACs':>12} {'RF size':>10} {'jump':>6} {'start':>12}")
                for row in payload[name]:
                    print(f"{row['layer'][:34]:<34} {row['op'][:20]:<20} {row['output']:<14} {row['MACs']:>12,} "
                          f"{row['RF size'][:10]:>10} {row['jump']:>6} {row['start']:>12}")
        if args.json:
            print_json(payload)
        return 0

    if args.recount:
        table.clear_cache(disk=False)

    def progress(done: int, total: int, title: str) -> None:
        if title and not args.json:
            print(f"counting {title} ({done + 1}/{total})…", file=sys.stderr, flush=True)

    rows = table.table(names, progress=progress, use_disk=not args.recount)
    if args.seeds:
        comparison = table.seed_comparison(rows)
        if args.json:
            print_json(comparison)
            return 0
        print(f"{'network':<26} {'quantity':<24} {'quoted':>10} {'counted':>10} {'diff %':>7}  source")
        for row in comparison:
            print(f"{row['network']:<26} {row['quantity']:<24} {row['quoted']:>10} {row['counted here']:>10} "
                  f"{row['difference %']:>7}  {row['source']}")
        return 0
    for row in rows:
        row["weights_status"] = table.weights_status(row)
    if args.json:
        print_json(rows)
        return 0
    print(f"{'network':<26} {'params M':>9} {'dense %':>8} {'GMACs@224':>10} {'GFLOPs@224':>11} {'input':>6} "
          f"{'GMACs@in':>9} {'depth':>6} {'top-1 %':>8}  weights")
    for row in rows:
        macs224 = f"{row['macs_224'] / 1e9:.3f}" if row["macs_224"] is not None else "-"
        flops224 = f"{row['flops_224'] / 1e9:.3f}" if row["flops_224"] is not None else "-"
        top1 = f"{row['top1']:.1f}" if row["top1"] is not None else "-"
        print(f"{row['title']:<26} {row['params'] / 1e6:>9.2f} {100 * row['dense_share']:>8.1f} {macs224:>10} {flops224:>11} "
              f"{row['input_size']:>6} {row['macs_native'] / 1e9:>9.3f} {row['depth']:>6} {top1:>8}  {row['weights_status']}")
    print("\nMACs = multiply-accumulates (\"mult-adds\", what most papers call FLOPs); FLOPs = 2 × MACs "
          "(what torch.utils.flop_counter reports). Depth = weighted layers on the longest path.")
    return 0
