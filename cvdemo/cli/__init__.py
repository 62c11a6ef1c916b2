"""``python -m cvdemo``: batch work from the shell, JSON on stdout.

Each module in this package that defines ``register(subparsers)`` adds one subcommand; its
parser's ``func`` does the work and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from cvdemo.device import configure_torch
from cvdemo.images import ImageLoadError
from cvdemo.settings import SettingError
from cvdemo.weights import WeightsUnavailable


class CliError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cvdemo", description="cvdemo: see how vision networks work, from the shell.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    package = sys.modules[__name__]
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # file names that are not UTF-8 print escaped, never crash
        sys.stdout.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_torch()
        return int(args.func(args) or 0)
    except (CliError, ImageLoadError, WeightsUnavailable, LookupError, RuntimeError, SettingError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"cvdemo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unwritable --out, a full disk: the user's to fix, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cvdemo {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
