"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cvdemo.images import load_image


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cuda, mps, cpu or auto (default: $CVDEMO_DEVICE, else the best available)")


def add_model_option(parser: argparse.ArgumentParser, task_hint: str) -> None:
    parser.add_argument("--model", default=None, help=f"registry name of the {task_hint} model (default: the best one ready offline; see `python -m cvdemo weights`)")


def read_images(paths: list[str]) -> list[tuple[str, np.ndarray]]:
    """Load every path up front so a bad file fails before any slow model work."""
    return [(path, load_image(Path(path), name=path)) for path in paths]


def print_json(payload) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()
