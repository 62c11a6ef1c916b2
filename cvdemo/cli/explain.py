"""``python -m cvdemo explain IMAGE --method NAME --target SPEC``: one attribution map, as .npy and JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, add_model_option, print_json, read_images


def register(subparsers) -> None:
    from cvdemo.explain import METHODS

    parser = subparsers.add_parser(
        "explain", help="saliency map of a classifier's decision (occlusion, gradients, Grad-CAM, LRP)",
        description="Computes one attribution map for IMAGE and prints model, target, method, seconds, the map's "
                    "shape and value range (plus IG's convergence delta or LRP's conservation check) as JSON.",
    )
    parser.add_argument("image", help="image file (PNG, JPEG, …)")
    parser.add_argument("--method", default="gradcam", help=f"one of: {', '.join(METHODS)} (default gradcam)")
    parser.add_argument("--target", default="top1",
                        help="class index (281), class name ('tabby', or a unique part of one) or topN (default top1)")
    add_model_option(parser, "classification")
    parser.add_argument("--out", help="write the (H, W) float32 map here (.npy)")
    parser.add_argument("--png", help="also write the map blended over the network's input image here (.png)")
    parser.add_argument("--patch", type=int, default=16, help="occlusion patch size in pixels (default 16)")
    parser.add_argument("--stride", type=int, default=8, help="occlusion stride in pixels (default 8)")
    parser.add_argument("--baseline", default="zero", help="occlusion / IG baseline: zero, blur or mean (default zero)")
    parser.add_argument("--steps", type=int, default=32, help="Integrated Gradients steps (default 32)")
    parser.add_argument("--samples", type=int, default=25, help="SmoothGrad samples (default 25)")
    parser.add_argument("--layer", default=None, help="Grad-CAM layer name (default: the last spatial convolution)")
    parser.add_argument("--epsilon", type=float, default=0.25, help="LRP-ε's ε, relative to each layer's RMS (default 0.25)")
    add_device_option(parser)
    parser.set_defaults(func=run)


def method_options(args: argparse.Namespace, subject) -> dict:
    method = args.method
    if method == "occlusion":
        return {"patch": args.patch, "stride": args.stride, "baseline": args.baseline}
    if method == "integrated_gradients":
        return {"steps": args.steps, "baseline": args.baseline}
    if method == "smoothgrad":
        return {"samples": args.samples}
    if method == "gradcam":
        return {"layer": args.layer} if args.layer else {}
    if method.startswith("lrp"):
        return {"epsilon": args.epsilon, "input_bounds": subject.input_bounds}
    return {}


def _ready(name: str) -> bool:
    from cvdemo import registry

    try:
        return registry.get(name).ready
    except KeyError:
        return False


def run(args: argparse.Namespace) -> int:
    from cvdemo import registry
    from cvdemo.device import pick_device
    from cvdemo.explain import METHODS, AttributionError, attribute, method_class
    from cvdemo.explain.targets import classifier_subject, face_crop, parse_target
    from cvdemo.registry import Task

    try:
        method = method_class(args.method).name
    except AttributionError:
        raise CliError(f"unknown method {args.method!r}; use one of: {', '.join(METHODS)}") from None
    args.method = method
    if args.out and not args.out.endswith(".npy"):
        raise CliError("--out must name a .npy file")
    ((path, image),) = read_images([args.image])
    device = pick_device(args.device)
    spec = registry.get(args.model) if args.model else registry.default_model(Task.CLASSIFICATION)
    if spec.task is not Task.CLASSIFICATION:
        raise CliError(f"{spec.name} is a {spec.task.value} model; `explain` works on classifiers")
    classifier = spec.build(device)
    notes = []
    if spec.expects == "face crop":
        detector = registry.load_model("mtcnn", device) if _ready("mtcnn") else None
        image, _, note = face_crop(image, detector)
        notes.append(note)
    subject = classifier_subject(classifier, image, spec.title)
    try:
        target = parse_target(args.target, subject.categories, subject.probabilities)
        result = attribute(method, subject.model, subject.inputs, target, **method_options(args, subject))
    except AttributionError as exc:
        raise CliError(str(exc)) from None
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        np.save(args.out, result.map.astype(np.float32))
    if args.png:
        from cvdemo.explain.plots import overlay_rgb
        from cvdemo.images import encode_png

        Path(args.png).write_bytes(encode_png(overlay_rgb(subject.image, result)))
    facts = result.summary()
    facts.update({
        "model": spec.name,
        "image": path,
        "target": target,
        "target_name": subject.target_name(target),
        "target_probability": float(subject.probabilities[target]) if target is not None else None,
        "top5": [{"class": name, "index": index, "probability": round(p, 4)} for name, p, index in subject.top(5)],
        "device": str(device),
        "out": args.out,
    })
    if notes:
        facts["notes"] = [n for n in notes if n]
    if result.conservation is not None and not result.conservation.ok:
        facts["warning"] = "LRP conservation check failed: the map should not be trusted"
    print_json(facts)
    return 0
