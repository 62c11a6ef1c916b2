"""``python -m cvdemo generate``: sample faces from the DCGAN generator into PNG files."""

from __future__ import annotations

import argparse

from cvdemo import registry
from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, output_folder, print_json
from cvdemo.device import describe_device, pick_device
from cvdemo.registry import Task

MAX_FACES = 10_000  # 10 000 PNGs of 64×64 is ~100 MB; more is almost certainly a typo


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="sample GAN faces into PNG files (same seed → same files)",
        description="Draws N latent vectors from SEED on a CPU random generator (so a seed means the same faces "
                    "on every device), runs the DCGAN generator and writes face_<seed>_<i>.png plus a grid. "
                    "Prints the file paths as JSON. Files are byte-identical for the same seed, N and device; "
                    "on a GPU the last bits of some pixels can differ from the CPU's.")
    parser.add_argument("--seed", type=int, default=0, help="random seed, 0 … 4294967295 (default 0)")
    parser.add_argument("--n", type=int, default=16, help=f"number of faces, 1 … {MAX_FACES} (default 16)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="scale z by this factor: < 1 gives more typical, less varied faces (default 1)")
    parser.add_argument("--no-grid", action="store_true", help="write only the single faces")
    parser.add_argument("--model", default=None, help="registry name of the generator (default: the best one ready offline)")
    add_device_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cvdemo.gan.sampling import MAX_SEED, latents, make_grid, scale_norm
    from cvdemo.images import encode_png

    if not 0 <= args.seed <= MAX_SEED:
        raise CliError(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    if not 1 <= args.n <= MAX_FACES:
        raise CliError(f"--n must be between 1 and {MAX_FACES}, got {args.n}")
    if not 0.0 <= args.temperature <= 10.0:
        raise CliError(f"--temperature must be between 0 and 10, got {args.temperature}")
    out = output_folder(args.out)
    spec = registry.get(args.model) if args.model else registry.default_model(Task.GENERATOR)
    if spec.task is not Task.GENERATOR:
        raise CliError(f"{spec.name} is a {spec.task.value} model, not a generator")

    device = pick_device(args.device)
    generator = spec.build(device)
    z = scale_norm(latents(args.seed, args.n), args.temperature)
    faces = generator.generate(z)

    width = max(3, len(str(args.n - 1)))
    paths = []
    for index, face in enumerate(faces):
        path = out / f"face_{args.seed}_{index:0{width}d}.png"
        path.write_bytes(encode_png(face))  # PNG carries no timestamp, so the bytes repeat
        paths.append(str(path))
    grid_path = None
    if not args.no_grid:
        grid_path = out / f"grid_{args.seed}_{args.n}.png"
        grid_path.write_bytes(encode_png(make_grid(faces)))
    print_json({
        "model": spec.name,
        "seed": args.seed,
        "n": args.n,
        "temperature": args.temperature,
        "device": describe_device(device),
        "faces": paths,
        "grid": str(grid_path) if grid_path else None,
    })
    return 0
