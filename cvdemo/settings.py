"""Numbers read from the environment, refused with a message that names the variable."""

from __future__ import annotations

import json
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


ICE_EXAMPLE = '[{"urls": ["stun:stun.example.org:3478"]}]'
ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def ice_servers_from_json(raw: str, source: str = "CVDEMO_ICE_SERVERS") -> list[dict]:
    """STUN/TURN servers as WebRTC's ``iceServers`` takes them, from JSON text."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingError(f"{source} is not valid JSON ({exc.msg} at character {exc.pos}); "
                           f"expected a list like {ICE_EXAMPLE}") from None
    return checked_ice_servers(value, source)


def checked_ice_servers(value, source: str) -> list[dict]:
    """``value`` (one server or a list of them) checked: each has ``urls`` with stun:/turn: URLs,
    and string ``username`` / ``credential`` when given."""
    servers = [value] if isinstance(value, dict) else value
    if not isinstance(servers, (list, tuple)):
        raise SettingError(f"{source} must be a list of servers like {ICE_EXAMPLE}, not {type(value).__name__}")
    checked = []
    for number, server in enumerate(servers, start=1):
        if not isinstance(server, dict):
            raise SettingError(f"{source}: server {number} must be an object like {ICE_EXAMPLE[1:-1]}")
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) and u.startswith(ICE_SCHEMES) for u in urls):
            raise SettingError(f"{source}: server {number} needs \"urls\": one or more of stun:, stuns:, turn: or turns: URLs")
        for field in ("username", "credential"):
            if field in server and not isinstance(server[field], str):
                raise SettingError(f"{source}: server {number}'s {field} must be a string")
        checked.append({**server, "urls": list(urls)})
    return checked
