"""``python -m cvdemo verify A B`` and ``python -m cvdemo embed IMAGE…``: face verification from the shell."""

from __future__ import annotations

import argparse
import sys

from cvdemo.cli import CliError
from cvdemo.cli._common import add_device_option, print_json, read_images
from cvdemo.device import pick_device
from cvdemo.faces.embedder import DEFAULT_THRESHOLD


def register(subparsers) -> None:
    verify = subparsers.add_parser(
        "verify", help="are the largest faces of two photos the same person?",
        description="Detects faces with MTCNN, aligns them like dlib and compares dlib's 128-D face descriptors. "
                    "Prints JSON {faces_a, faces_b, distance, same}. Exit status 2 when a photo has no face.")
    verify.add_argument("image_a")
    verify.add_argument("image_b")
    verify.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"same person when the distance is below this (default {DEFAULT_THRESHOLD}, dlib's)")
    add_device_option(verify)
    verify.set_defaults(func=run_verify)

    embed = subparsers.add_parser(
        "embed", help="print every face's box and 128-D descriptor",
        description="For each image: every face found (left to right) with its box, detector score, "
                    "5 landmarks and dlib descriptor, as JSON. Exit status 2 when an image has no face.")
    embed.add_argument("images", nargs="+")
    add_device_option(embed)
    embed.set_defaults(func=run_embed)


def _pipeline(args):
    from cvdemo.faces.verify import build_pipeline

    return build_pipeline(pick_device(args.device))


def _warn(notes: list[str]) -> None:
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)


def run_verify(args: argparse.Namespace) -> int:
    from cvdemo.faces.verify import FaceError, compare, face_notes, largest

    if not 0 < args.threshold < 10:
        raise CliError(f"--threshold must be a positive distance (dlib uses 0.6), got {args.threshold}")
    (name_a, image_a), (name_b, image_b) = read_images([args.image_a, args.image_b])
    pipeline = _pipeline(args)
    try:
        faces_a = pipeline.require_faces(image_a, name_a)
        faces_b = pipeline.require_faces(image_b, name_b)
    except FaceError as exc:
        raise CliError(str(exc)) from None
    _warn(face_notes(faces_a, name_a) + face_notes(faces_b, name_b))
    verdict = compare(largest(faces_a), largest(faces_b), args.threshold)
    print_json({"faces_a": len(faces_a), "faces_b": len(faces_b), "distance": round(verdict.distance, 6),
                "same": verdict.same, "threshold": args.threshold})
    return 0


def run_embed(args: argparse.Namespace) -> int:
    from cvdemo.faces.verify import TINY_FACE_PX, no_face_message

    images = read_images(args.images)
    pipeline = _pipeline(args)
    out = []
    missing = []
    for name, image in images:
        faces = pipeline.faces(image)
        if not faces:
            missing.append(no_face_message(name, pipeline.min_face_size(image)))
        records = []
        for face in faces:
            record = face.to_record()
            if face.tiny:
                record["warning"] = f"tiny face (< {TINY_FACE_PX} px): unreliable descriptor"
            records.append(record)
        out.append({"image": name, "faces": records})
    if missing:
        raise CliError(" ".join(missing))
    print_json(out)
    return 0
