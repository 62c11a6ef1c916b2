"""``python -m cvdemo detect IMAGE...``: boxes, labels and scores for each image, as JSON."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cvdemo import registry
from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, add_model_option, output_folder, print_json, read_images
from cvdemo.device import describe_device, pick_device, synchronize
from cvdemo.registry import Task

# Every task whose wrapper has detect() (face detectors and Mask R-CNN too).
DETECTING_TASKS = (Task.DETECTION, Task.FACE_DETECTION, Task.INSTANCE_SEGMENTATION)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "detect", help="detect objects in images (boxes, labels, scores)",
        description="Runs a detector on each image and prints its detections as JSON objects "
                    '{"label": str, "score": float, "box": [x1, y1, x2, y2]} in the original pixel coordinates.',
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, …)")
    add_model_option(parser, "detection")
    parser.add_argument("--threshold", type=float, default=0.3, help="minimum score to report (default 0.3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document with timings instead of one line per box")
    parser.add_argument("--out", metavar="DIR", help="also write each image with its boxes drawn to DIR/<name>_detections.png")
    add_device_option(parser)
    parser.set_defaults(func=run)


def pick_detector(name: str | None) -> registry.ModelSpec:
    if name is None:
        return registry.default_model(Task.DETECTION)
    spec = registry.get(name)
    if spec.task not in DETECTING_TASKS:
        choices = ", ".join(s.name for s in registry.all_models(Task.DETECTION))
        raise CliError(f"{name} is a {spec.task.value} model, not a detector; detection models: {choices}")
    return spec


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.threshold <= 1.0:
        raise CliError(f"--threshold must be between 0 and 1, got {args.threshold}")
    out_dir = output_folder(args.out) if args.out else None
    images = read_images(args.images)  # every file is checked before the model loads
    spec = pick_detector(args.model)
    device = pick_device(args.device)
    detector = spec.build(device)
    report = []
    for path, image in images:
        started = time.perf_counter()
        detections = detector.detect(image, score_threshold=args.threshold).sorted()
        synchronize(device)
        latency_ms = (time.perf_counter() - started) * 1000.0
        records = detections.to_records()
        written = None
        if out_dir is not None:
            from cvdemo.detection.drawing import draw_detections
            from cvdemo.images import encode_png

            written = out_dir / f"{Path(path).stem}_detections.png"
            written.write_bytes(encode_png(draw_detections(image, detections)))
        if args.json:
            entry = {"image": path, "model": spec.name, "device": describe_device(device), "latency_ms": round(latency_ms, 1),
                     "height": image.shape[0], "width": image.shape[1], "detections": records}
            if written is not None:
                entry["annotated"] = str(written)
            report.append(entry)
        else:
            print(f"# {path}: {len(records)} detection(s) ≥ {args.threshold:g} by {spec.name} on "
                  f"{describe_device(device)} in {latency_ms:.0f} ms" + (f"; drawn to {written}" if written else ""))
            for record in records:
                print(json.dumps(record, ensure_ascii=False))
    if args.json:
        print_json(report)
    return 0
