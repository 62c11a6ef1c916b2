"""Enrolled people: several descriptors per name, identification, and a small file format.

Identification is nearest neighbour over every enrolled descriptor: the closest enrolment names
the face if it is nearer than the threshold, otherwise the face is "unknown". Several photos
per person make this robust to pose and lighting (each photo is its own point in the space).

Files: ``.json`` holds names and descriptors only (a few KB, readable); ``.npz`` adds the
aligned chips so the metric and training views can show faces after an import.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from cvdemo.faces.embedder import DEFAULT_THRESHOLD, DESCRIPTOR_SIZE

FORMAT = "cvdemo-face-gallery"
VERSION = 1
MAX_NAME_LENGTH = 60
MAX_ENTRIES = 2000  # an import larger than this is not a class gallery
MAX_SOURCE_LENGTH = 260  # a photo's file name, as enrolled
CHIP_SHAPE = (150, 150, 3)
MAX_JSON_BYTES = 16 << 20  # a full gallery's JSON is about 4 MiB


class GalleryError(ValueError):
    """A gallery file or enrolment the app cannot use; the message says why."""


@dataclass
class Enrolment:
    name: str
    descriptor: np.ndarray  # (128,) float32
    chip: np.ndarray | None = None  # (150, 150, 3) uint8, optional
    source: str = ""


@dataclass
class Identification:
    name: str | None  # None: unknown (nearest enrolment farther than the threshold)
    distance: float  # to the nearest enrolment
    nearest: str | None  # the nearest enrolment's name, even when too far
    per_person: dict[str, float] = field(default_factory=dict)  # name → distance to that person's closest photo

    def label(self) -> str:
        return f"{self.name} ({self.distance:.2f})" if self.name else f"unknown ({self.distance:.2f})"


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise GalleryError("Please type a name for this person.")
    if len(name) > MAX_NAME_LENGTH:
        raise GalleryError(f"Names are limited to {MAX_NAME_LENGTH} characters.")
    return name


def _check_descriptor(descriptor) -> np.ndarray:
    vector = np.asarray(descriptor, dtype=np.float32).reshape(-1)
    if vector.shape != (DESCRIPTOR_SIZE,) or not np.all(np.isfinite(vector)):
        raise GalleryError(f"a descriptor must be {DESCRIPTOR_SIZE} finite numbers, got shape {vector.shape}")
    return vector


@dataclass
class Gallery:
    entries: list[Enrolment] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, name: str, descriptor: np.ndarray, chip: np.ndarray | None = None, source: str = "") -> Enrolment:
        if len(self.entries) >= MAX_ENTRIES:
            raise GalleryError(f"The gallery is full ({MAX_ENTRIES} photos).")
        if chip is not None:
            chip = np.asarray(chip, dtype=np.uint8)
        entry = Enrolment(clean_name(name), _check_descriptor(descriptor), chip, source[:MAX_SOURCE_LENGTH])
        self.entries.append(entry)
        return entry

    def remove(self, index: int) -> None:
        del self.entries[index]

    def remove_person(self, name: str) -> int:
        before = len(self.entries)
        self.entries = [e for e in self.entries if e.name != name]
        return before - len(self.entries)

    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries})

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.name] = out.get(e.name, 0) + 1
        return dict(sorted(out.items()))

    @property
    def labels(self) -> list[str]:
        return [e.name for e in self.entries]

    def descriptors(self) -> np.ndarray:
        if not self.entries:
            return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
        return np.stack([e.descriptor for e in self.entries])

    def identify(self, descriptor: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> Identification:
        if not self.entries:
            raise GalleryError("The gallery is empty: enrol at least one person first.")
        d = np.linalg.norm(self.descriptors().astype(np.float64) - _check_descriptor(descriptor), axis=1)
        per_person: dict[str, float] = {}
        for name, value in zip(self.labels, d):
            per_person[name] = min(per_person.get(name, np.inf), float(value))
        best = int(np.argmin(d))
        nearest = self.entries[best].name
        return Identification(nearest if d[best] < threshold else None, float(d[best]), nearest,
                              dict(sorted(per_person.items(), key=lambda kv: kv[1])))

    # ------------------------------------------------------------------ files

    def to_json(self) -> bytes:
        payload = {"format": FORMAT, "version": VERSION, "descriptor_size": DESCRIPTOR_SIZE,
                   "entries": [{"name": e.name, "source": e.source, "descriptor": [round(float(v), 7) for v in e.descriptor]}
                               for e in self.entries]}
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def to_npz(self) -> bytes:
        chips = np.zeros((len(self.entries), 150, 150, 3), dtype=np.uint8)
        has_chip = np.zeros(len(self.entries), dtype=bool)
        for i, e in enumerate(self.entries):
            if e.chip is not None and e.chip.shape == (150, 150, 3):
                chips[i] = e.chip
                has_chip[i] = True
        buffer = io.BytesIO()
        np.savez_compressed(buffer, format=np.array(FORMAT), version=np.array(VERSION),
                            names=np.array([e.name for e in self.entries], dtype=str),
                            sources=np.array([e.source for e in self.entries], dtype=str),
                            descriptors=self.descriptors(), chips=chips, has_chip=has_chip)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "the file") -> "Gallery":
        """Read either format (told apart by content, not by the file name)."""
        if not data:
            raise GalleryError(f"{name} is empty.")
        if data[:2] == b"PK":
            return cls._from_npz(data, name)
        if data.lstrip()[:1] == b"{":
            return cls._from_json(data, name)
        raise GalleryError(f"{name} is not a gallery file (expected the .json or .npz this page exports).")

    @classmethod
    def _from_json(cls, data: bytes, name: str) -> "Gallery":
        if len(data) > MAX_JSON_BYTES:  # parsed JSON takes several times its size in Python objects
            raise GalleryError(f"{name} is {len(data) / 2**20:.1f} MiB; a {MAX_ENTRIES}-photo gallery file is under "
                               f"{MAX_JSON_BYTES / 2**20:.0f} MiB.")
        try:
            payload = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GalleryError(f"{name} is not valid JSON ({exc}).") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise GalleryError(f"{name} is JSON but not a {FORMAT} file.")
        if payload.get("version") != VERSION:
            raise GalleryError(f"{name} has gallery version {payload.get('version')}; this app reads version {VERSION}.")
        entries = payload.get("entries")
        if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
            raise GalleryError(f"{name}: 'entries' must be a list of at most {MAX_ENTRIES} people.")
        gallery = cls()
        for i, entry in enumerate(entries):
            try:
                gallery.add(entry["name"], entry["descriptor"], source=str(entry.get("source", "")))
            except (KeyError, TypeError, GalleryError) as exc:
                raise GalleryError(f"{name}: entry {i + 1} is unusable ({exc}).") from None
        return gallery

    @classmethod
    def _from_npz(cls, data: bytes, name: str) -> "Gallery":
        # Every member's header is read and checked before any array is inflated: a few MB of
        # compressed zeros can declare gigabytes, and the server holds every session's memory.
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = _npz_members(archive, name)
                fields = {key: _read_small_member(archive, member) for key, member in members.items() if key != "chips"}
                if str(fields["format"]) != FORMAT:
                    raise GalleryError(f"{name} is an .npz archive but not a {FORMAT} file.")
                if int(fields["version"]) != VERSION:
                    raise GalleryError(f"{name} has gallery version {fields['version']}; this app reads version {VERSION}.")
                chips = _iter_chips(archive, members.get("chips"), fields.get("has_chip"))
                gallery = cls()
                sources = fields.get("sources")
                for i, descriptor in enumerate(fields["descriptors"]):
                    try:
                        gallery.add(str(fields["names"][i]), descriptor, next(chips),
                                    str(sources[i]) if sources is not None else "")
                    except GalleryError as exc:
                        raise GalleryError(f"{name}: entry {i + 1} is unusable ({exc}).") from None
        except GalleryError:
            raise
        except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, NotImplementedError) as exc:
            raise GalleryError(f"{name} is not a readable .npz archive ({exc}).") from None
        return gallery

    def import_entries(self, other: "Gallery", replace: bool = False) -> None:
        """Add (or, with ``replace``, swap in) ``other``'s entries, all or none, within :data:`MAX_ENTRIES`."""
        kept = 0 if replace else len(self.entries)
        if kept + len(other) > MAX_ENTRIES:
            raise GalleryError(f"Importing {len(other)} photos into a gallery of {kept} would exceed its "
                               f"{MAX_ENTRIES} photos; remove some people or replace the gallery instead.")
        if replace:
            self.entries.clear()
        self.entries.extend(other.entries)


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    data_offset: int  # bytes of .npy header before the array data


# The members an exported archive holds, and the longest string each may carry.
_STRING_LIMITS = {"format": 64, "names": MAX_NAME_LENGTH, "sources": MAX_SOURCE_LENGTH}
_REQUIRED = ("format", "version", "names", "descriptors")
_OPTIONAL = ("sources", "chips", "has_chip")


def _expected_shape(key: str, n: int) -> tuple[int, ...]:
    """The shape member ``key`` has in a gallery of ``n`` entries."""
    return {"format": (), "version": (), "names": (n,), "sources": (n,), "descriptors": (n, DESCRIPTOR_SIZE),
            "chips": (n, *CHIP_SHAPE), "has_chip": (n,)}[key]


def _dtype_fits(key: str, dtype: np.dtype) -> bool:
    if key in _STRING_LIMITS:
        return dtype.kind == "U" and dtype.itemsize // 4 <= _STRING_LIMITS[key]
    if key == "version":
        return dtype.kind in "iu"
    if key == "descriptors":
        return dtype.kind == "f" and dtype.itemsize in (4, 8)
    if key == "chips":
        return dtype == np.uint8
    return dtype == np.bool_  # has_chip


def _npz_members(archive: zipfile.ZipFile, name: str) -> dict[str, _Member]:
    """Each member's .npy header, checked against the gallery layout; no array data is read."""
    infos = archive.infolist()
    known = set(_REQUIRED + _OPTIONAL)
    keys = [info.filename.removesuffix(".npy") for info in infos]
    if len(infos) > len(known) or not set(keys) <= known or len(set(keys)) != len(keys):
        raise GalleryError(f"{name} is an .npz archive but not a {FORMAT} file (unexpected members).")
    missing = [key for key in _REQUIRED if key not in keys]
    if missing:
        raise GalleryError(f"{name}: {', '.join(missing)} missing; is this a {FORMAT} file?")
    members = {}
    for key, info in zip(keys, infos):
        with archive.open(info) as stream:
            version = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(stream)
            members[key] = _Member(info, tuple(shape), dtype, stream.tell())
        if not _dtype_fits(key, dtype) or fortran_order:
            raise GalleryError(f"{name}: member {key} has the wrong type ({dtype}); is this a {FORMAT} file?")
    count = members["names"].shape[0] if len(members["names"].shape) == 1 else -1
    if not 0 <= count <= MAX_ENTRIES:
        raise GalleryError(f"{name}: a gallery file holds at most {MAX_ENTRIES} photos.")
    for key, member in members.items():
        if member.shape != _expected_shape(key, count):
            raise GalleryError(f"{name}: {key} has shape {member.shape}, expected {_expected_shape(key, count)} "
                               f"for {count} entries.")
        if member.info.file_size != member.data_offset + _data_bytes(member):
            raise GalleryError(f"{name}: member {key} is not the size its header declares.")
    return members


def _data_bytes(member: _Member) -> int:
    return int(np.prod(member.shape, dtype=np.int64)) * member.dtype.itemsize


def _read_small_member(archive: zipfile.ZipFile, member: _Member) -> np.ndarray:
    with archive.open(member.info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def _iter_chips(archive: zipfile.ZipFile, member: _Member | None, has_chip: np.ndarray | None) -> Iterator[np.ndarray | None]:
    """One chip per entry (None where the file has none), inflated one at a time; then None for ever."""
    if member is not None and has_chip is not None:
        yield from _read_chips(archive, member, has_chip)
    while True:
        yield None


def _read_chips(archive: zipfile.ZipFile, member: _Member, has_chip: np.ndarray) -> Iterator[np.ndarray | None]:
    chip_bytes = int(np.prod(CHIP_SHAPE))
    with archive.open(member.info) as stream:
        stream.read(member.data_offset)
        for flag in has_chip:
            data = stream.read(chip_bytes)
            if len(data) != chip_bytes:
                raise EOFError("the chips end early")
            yield np.frombuffer(data, dtype=np.uint8).reshape(CHIP_SHAPE).copy() if flag else None


def identify_all(gallery: Gallery, faces, threshold: float = DEFAULT_THRESHOLD) -> list[Identification]:
    """One identification per face (``faces``: anything with a ``descriptor``)."""
    return [gallery.identify(face.descriptor, threshold) for face in faces]


def identify_frame(pipeline, gallery: Gallery, image: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> tuple[np.ndarray, list]:
    """Detect, identify and label every face of a frame: (annotated copy, [(face, identification)]).

    What the live webcam runs on every frame; it only reads ``gallery`` (give it a copy when
    another thread may change the original).
    """
    from cvdemo.faces import draw

    faces = pipeline.faces(image)
    if not faces or not len(gallery):
        return np.asarray(image), [(face, None) for face in faces]
    results = identify_all(gallery, faces, threshold)
    annotated = draw.annotate(image, [f.box for f in faces], [r.label() for r in results],
                              [draw.MATCH if r.name else draw.NO_MATCH for r in results], [f.landmarks for f in faces])
    return annotated, list(zip(faces, results))
