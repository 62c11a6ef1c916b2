"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from cvdemo.cli import CliError
from cvdemo.images import load_image


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cuda, mps, cpu or auto (default: $CVDEMO_DEVICE, else the best available)")


def add_model_option(parser: argparse.ArgumentParser, task_hint: str) -> None:
    parser.add_argument("--model", default=None, help=f"registry name of the {task_hint} model (default: the best one ready offline; see `python -m cvdemo weights`)")


def read_images(paths: list[str]) -> list[tuple[str, np.ndarray]]:
    """Load every path up front so a bad file fails before any slow model work."""
    return [(path, load_image(Path(path), name=path)) for path in paths]


def print_json(payload) -> None:
    """Strict JSON on stdout: NaN and infinities become null, and file names that are not valid
    UTF-8 show U+FFFD where their undecodable bytes were."""
    json.dump(_strict(payload), sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _strict(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_strict(key): _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def output_file(path: str, option: str) -> Path:
    """``path`` checked before any slow work: not a folder, its folder created, writable."""
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option} {path} is a folder; name a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{option} {path}: cannot create its folder ({exc.strerror or exc})") from None
    if not os.access(target.parent, os.W_OK):
        raise CliError(f"{option} {path}: no permission to write in {target.parent}")
    return target


def output_folder(path: str, option: str = "--out") -> Path:
    """Folder ``path`` created (or found) and writable, before any slow work."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{option} {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{option} {folder}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK):
        raise CliError(f"{option} {folder}: no permission to write there")
    return folder
