"""``python -m cvdemo segment IMAGE...``: class-index mask PNG and overlay PNG per image, JSON on stdout."""

from __future__ import annotations

import argparse
from pathlib import Path

from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, add_model_option, output_folder, print_json, read_images
from cvdemo.device import pick_device
from cvdemo.registry import Task


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment", help="semantic segmentation: mask and overlay PNGs, class shares as JSON",
        description="Segments each image with a semantic segmentation model and writes NAME.mask.png (an indexed PNG "
                    "whose pixel values are the class indices, PASCAL VOC style) and NAME.overlay.png. Prints one JSON "
                    "object for one image, a list of them for several: the image path, the files written and each class's share "
                    "of the pixels.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, …)")
    add_model_option(parser, "semantic segmentation")
    parser.add_argument("--out", default=None, metavar="DIR", help="where to write the PNGs (default: beside each image)")
    parser.add_argument("--opacity", type=float, default=0.6, help="overlay opacity 0–1 (default 0.6)")
    add_device_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cvdemo import registry
    from cvdemo.segmentation.pipeline import segment_to_files

    if not 0.0 <= args.opacity <= 1.0:
        raise CliError(f"--opacity must be between 0 and 1, got {args.opacity}")
    if args.model:
        spec = registry.get(args.model)
        if spec.task is not Task.SEMANTIC_SEGMENTATION:
            raise CliError(f"{args.model} is a {spec.task.value} model; pick a semantic segmentation model "
                           f"({', '.join(s.name for s in registry.all_models(Task.SEMANTIC_SEGMENTATION))})")
    else:
        spec = registry.default_model(Task.SEMANTIC_SEGMENTATION)
    out_dir = output_folder(args.out) if args.out else None
    images = read_images(args.images)  # every file checked before the model loads
    device = pick_device(args.device)
    model = spec.build(device)
    results: list[dict] = []
    taken: dict[Path, set[str]] = {}
    for path, image in images:
        target = out_dir if out_dir is not None else Path(path).resolve().parent
        results.append(segment_to_files(model, image, path, target, model_name=spec.name, opacity=args.opacity,
                                        taken=taken.setdefault(target, set())))
    print_json(results[0] if len(results) == 1 else results)
    return 0
