"""``python -m cvdemo explain IMAGE``: one attribution map, as .npy and JSON, for what the page explains.

* a classifier's class: ``--target tabby`` (index, name or topN);
* a detector's box: ``--model nanodet --target box:N`` (the N-th detection, best first, from 0);
* a face pair: ``--pair OTHER.jpg`` (how alike the largest faces are, −distance as on the page);
* ``--list-methods``: every method with its engine, and whether it is live-fast or checks completeness.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, add_model_option, output_file, print_json, read_images

DETECTORS = ("nanodet", "centernet")  # heads whose cells detection_subject can read


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain", help="attribution map of a classifier's class, a detector's box or a face pair (24 methods)",
        description="Computes one attribution map for IMAGE and prints model, target, method, seconds, the map's "
                    "shape and value range (plus the completeness check where the method has one) as JSON. "
                    "`--list-methods` lists the methods.",
    )
    parser.add_argument("image", nargs="?", help="image file (PNG, JPEG, …)")
    parser.add_argument("--list-methods", action="store_true", help="list every method and exit")
    parser.add_argument("--method", default=None,
                        help="a name from --list-methods (default: gradcam; layercam for a detection box)")
    parser.add_argument("--target", default="top1",
                        help="a classifier: class index (281), name ('tabby', or a unique part of one) or topN "
                             "(default top1); a detector: box:N, the N-th detection, best first, from 0")
    parser.add_argument("--pair", help="explain how alike the largest face of IMAGE is to the largest face of this photo")
    add_model_option(parser, "classification or detection (nanodet, centernet)")
    parser.add_argument("--threshold", type=float, default=0.3, help="a detector's score threshold (default 0.3)")
    parser.add_argument("--out", help="write the (H, W) float32 map here (.npy)")
    parser.add_argument("--png", help="also write the map blended over the network's input image here (.png)")
    parser.add_argument("--patch", type=int, default=16, help="occlusion patch size in pixels (default 16)")
    parser.add_argument("--stride", type=int, default=8, help="occlusion stride in pixels (default 8)")
    parser.add_argument("--baseline", default="zero", help="occlusion / IG / DeepLIFT baseline: zero, blur or mean")
    parser.add_argument("--steps", type=int, default=None,
                        help="Integrated Gradients / conductance steps (default: IG raises them until the gap is < 5 %%)")
    parser.add_argument("--samples", type=int, default=None, help="noisy copies (SmoothGrad…) or random samples (SHAP, LIME)")
    parser.add_argument("--cell", type=int, default=None, help="cell side in pixels for ablation, Shapley, Kernel SHAP, LIME")
    parser.add_argument("--layer", default=None,
                        help="layer name for the layer methods (default: the last spatial layer, or the box's head level)")
    parser.add_argument("--epsilon", type=float, default=0.25, help="LRP-ε's ε, relative to each layer's RMS (default 0.25)")
    add_device_option(parser)
    parser.set_defaults(func=run)


def method_options(args: argparse.Namespace, method: str, subject) -> dict:
    """The options the method takes, from the flags given (a flag a method has no use for is an error)."""
    from cvdemo.explain.catalog import LAYER_METHODS

    options: dict = {}
    if method == "occlusion":
        options.update(patch=args.patch, stride=args.stride, baseline=args.baseline)
    elif method in ("integrated_gradients", "deeplift", "layer_conductance", "feature_ablation",
                    "shapley_value_sampling", "kernel_shap", "lime"):
        options["baseline"] = args.baseline
    if method.startswith("lrp"):
        options.update(epsilon=args.epsilon, input_bounds=subject.input_bounds)
    given = {"steps": (args.steps, ("integrated_gradients", "layer_conductance")),
             "samples": (args.samples, ("smoothgrad", "vargrad", "gradient_shap", "shapley_value_sampling",
                                        "kernel_shap", "lime")),
             "cell": (args.cell, ("feature_ablation", "shapley_value_sampling", "kernel_shap", "lime")),
             "layer": (args.layer, LAYER_METHODS)}
    for option, (value, methods) in given.items():
        if value is None:
            continue
        if method not in methods:
            raise CliError(f"--{option} does not apply to {method} (it does to: {', '.join(methods)})")
        options[option] = value
    return options


def write_whole(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path`` and rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse option values no method can use, before the model loads."""
    for option in ("patch", "stride", "steps", "samples", "cell"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise CliError(f"--{option} must be at least 1, got {value}")
    if not math.isfinite(args.epsilon) or args.epsilon <= 0:
        raise CliError(f"--epsilon must be a positive number, got {args.epsilon}")


def _ready(name: str) -> bool:
    from cvdemo import registry

    try:
        return registry.get(name).ready
    except KeyError:
        return False


def list_methods() -> int:
    from cvdemo.explain.catalog import catalog

    print_json([{"name": info.name, "title": info.title, "engine": info.engine, "live": info.live,
                 "completeness_check": info.completeness, "layer": info.layer, "what": info.summary}
                for info in catalog()])
    return 0


def box_index(spec: str) -> int:
    text = str(spec).strip().lower()
    if not text.startswith("box:") or not text[4:].isdigit():
        raise CliError(f"a detector's target is box:N (the N-th detection, from 0), got {spec!r}")
    return int(text[4:])


def detection_target(args, image, device):
    from cvdemo import registry
    from cvdemo.explain.targets import detection_subject

    detector = registry.load_model(args.model, device)
    detections = detector.detect(image, score_threshold=args.threshold).sorted()
    index = box_index(args.target)
    if index >= len(detections):
        raise CliError(f"box:{index} asked for, but {len(detections)} detection(s) score above {args.threshold}")
    box = [float(v) for v in detections.boxes[index]]
    subject = detection_subject(detector, image, box, int(detections.labels[index]), float(detections.scores[index]))
    facts = {"box": [round(v, 1) for v in box], "box_label": detections.categories[int(detections.labels[index])],
             "box_score": round(float(detections.scores[index]), 4), "detections": len(detections)}
    return subject, None, facts


def pair_target(args, image, path, device):
    from cvdemo.explain.targets import verification_subject
    from cvdemo.faces.verify import FaceError, build_pipeline, largest

    ((other_path, other),) = read_images([args.pair])
    pipeline = build_pipeline(device)
    try:
        face = largest(pipeline.require_faces(image, path))
        reference = largest(pipeline.require_faces(other, other_path))
    except FaceError as exc:
        raise CliError(str(exc)) from None
    subject = verification_subject(pipeline.embedder, face.chip, reference.chip)
    return subject, None, {"pair": other_path}


def classifier_target(args, image, device, spec):
    from cvdemo import registry
    from cvdemo.explain import AttributionError
    from cvdemo.explain.targets import classifier_subject, face_crop, parse_target

    classifier = spec.build(device)
    facts = {}
    if spec.metadata.get("expects") == "face crop":
        detector = registry.load_model("mtcnn", device) if _ready("mtcnn") else None
        image, _, note = face_crop(image, detector)
        if note:
            facts["notes"] = [note]
    subject = classifier_subject(classifier, image, spec.title)
    try:
        target = parse_target(args.target, subject.categories, subject.probabilities)
    except AttributionError as exc:
        raise CliError(str(exc)) from None
    facts.update({
        "target_name": subject.target_name(target),
        "target_probability": float(subject.probabilities[target]),
        "top5": [{"class": name, "index": index, "probability": round(p, 4)} for name, p, index in subject.top(5)],
    })
    return subject, target, facts


def run(args: argparse.Namespace) -> int:
    from cvdemo import registry
    from cvdemo.device import pick_device
    from cvdemo.explain import METHODS, AttributionError, attribute, method_class
    from cvdemo.registry import Task

    if args.list_methods:
        return list_methods()
    if not args.image:
        raise CliError("give an IMAGE to explain (or --list-methods)")
    if args.method is not None:
        try:
            args.method = method_class(args.method).name
        except AttributionError:
            raise CliError(f"unknown method {args.method!r}; use one of: {', '.join(METHODS)}") from None
    if args.out and not args.out.endswith(".npy"):
        raise CliError("--out must name a .npy file")
    check_numbers(args)
    out = output_file(args.out, "--out") if args.out else None
    png = output_file(args.png, "--png") if args.png else None
    ((path, image),) = read_images([args.image])
    device = pick_device(args.device)
    if args.pair:
        if args.model:
            raise CliError("--pair explains the face descriptor (dlib ResNet); leave --model out")
        subject, target, facts = pair_target(args, image, path, device)
        model_name = "dlib_resnet"
    else:
        spec = registry.get(args.model) if args.model else registry.default_model(Task.CLASSIFICATION)
        model_name = spec.name
        if spec.task is Task.DETECTION:
            if spec.name not in DETECTORS:
                raise CliError(f"`explain` reads the heads of {', '.join(DETECTORS)}; {spec.name} is not one of them")
            args.model = spec.name
            subject, target, facts = detection_target(args, image, device)
        elif spec.task is Task.CLASSIFICATION:
            subject, target, facts = classifier_target(args, image, device, spec)
        else:
            raise CliError(f"{spec.name} is a {spec.task.value} model; `explain` works on classifiers, "
                           f"detectors ({', '.join(DETECTORS)}) and face pairs (--pair)")
    method = args.method or subject.first_method
    try:
        result = attribute(method, subject.model, subject.inputs, target, **method_options(args, method, subject))
    except AttributionError as exc:
        raise CliError(str(exc)) from None
    from cvdemo.explain.plots import npy_bytes, overlay_rgb
    from cvdemo.images import encode_png

    if out is not None:
        write_whole(out, npy_bytes(result.map))
    if png is not None:
        write_whole(png, encode_png(overlay_rgb(subject.image, result)))
    summary = result.summary()
    summary.update({"model": model_name, "image": path, "target": target, "explained": subject.title,
                    "legend": subject.legend(result.signed, target), "device": str(device), "out": args.out})
    summary.update(facts)
    if result.conservation is not None and not result.conservation.ok:
        summary["warning"] = "the completeness check failed: the map does not add up to what it explains"
    print_json(summary)
    return 0
