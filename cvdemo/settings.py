"""Numbers read from the environment, refused with a message that names the variable."""

from __future__ import annotations

import os


class SettingError(ValueError):
    """An environment variable holds something the app cannot use; the message says which."""


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """``$name`` as a whole number of at least ``minimum``; ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a whole number (unset it to use the default, {default})") from None
    if value < minimum:
        raise SettingError(f"{name}={raw!r} must be at least {minimum}")
    return value
