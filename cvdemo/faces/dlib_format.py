"""Read dlib's serialized face-recognition network without dlib.

``dlib_face_recognition_resnet_model_v1.dat`` is one dlib "serialized object": a loss record,
then a header of wrapper version numbers running output→input, then the input record and the
layer records running input→output (see /work/shared/facedata/DLIB_FORMAT.md). This module
walks that byte stream generically and returns the layer sequence with NumPy weights; the
residual structure is then recovered from the tag/skip markers by :func:`residual_units`, so a
file that does not have the expected shape fails with a message instead of loading garbage.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DlibFormatError(ValueError):
    """The file is not the dlib network this reader understands; the message says where."""


# Wrapper version numbers in the header: what kind of object sits at each position of the chain.
TAG_OR_SKIP = 1
LAYER = 2
BOTTOM_LAYER = 3  # the layer that wraps the input layer directly

KNOWN_RECORDS = {"con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2"}


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"file ends at byte {len(self.data)} while reading {n} bytes at {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        """dlib's variable-length sign-and-magnitude integer (control byte, then 1..8 bytes)."""
        at = self.pos
        control = self._take(1)[0]
        if control & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at offset {at}")
        size = control & 0x0F
        if not 1 <= size <= 8:
            raise DlibFormatError(f"bad integer length {size} at offset {at}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def bool(self) -> bool:
        at = self.pos
        byte = self._take(1)[0]
        if byte not in (0x30, 0x31):
            raise DlibFormatError(f"bad bool byte 0x{byte:02x} at offset {at}")
        return byte == 0x31

    def string(self) -> str:
        length = self.int()
        return bytes(self._take(length)).decode("ascii")

    def scalar(self) -> float:
        # Mantissa first, then exponent (the code's order; one dlib comment says the opposite).
        mantissa = self.int()
        exponent = self.int()
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent == 32002:
            return float("nan")
        return float(mantissa) * 2.0 ** exponent

    def float32(self) -> float:
        return float(np.float32(self.scalar()))

    def tensor(self) -> np.ndarray:
        at = self.pos
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"tensor at offset {at} has version {version}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        payload = self._take(4 * count)
        return np.frombuffer(payload, dtype="<f4").reshape(shape).astype(np.float32)

    # ``builtins.int``: inside this class ``int`` names the reader method above.
    def shape(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        at = self.pos
        version = self.int()
        if version != 1:
            raise DlibFormatError(f"alias tensor at offset {at} has version {version}, expected 1")
        return self.int(), self.int(), self.int(), self.int()


@dataclass
class Record:
    """One computational layer: its dlib type tag, its hyper-parameters and weights."""

    kind: str
    offset: int
    params: dict = field(default_factory=dict)


@dataclass
class DlibNetwork:
    loss: str
    loss_margin: float
    loss_threshold: float
    input_kind: str
    mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    # Input→output: a Record per computational layer, the string "marker" per tag/skip wrapper.
    sequence: list = field(default_factory=list)
    size_bytes: int = 0

    @property
    def records(self) -> list[Record]:
        return [item for item in self.sequence if isinstance(item, Record)]

    def parameter_count(self) -> int:
        total = 0
        for record in self.records:
            for value in record.params.values():
                if isinstance(value, np.ndarray):
                    total += value.size
        return total


def _read_record(reader: _Reader) -> Record:
    offset = reader.pos
    kind = reader.string()
    p: dict = {}
    if kind == "con_4":
        flat = reader.tensor().reshape(-1)
        p["num_filters"] = reader.int()
        p["kernel"] = (reader.int(), reader.int())
        p["stride"] = (reader.int(), reader.int())
        p["padding"] = (reader.int(), reader.int())
        filters = reader.shape()
        biases = reader.shape()
        for _ in range(4):  # learning-rate / weight-decay multipliers: training only
            reader.scalar()
        n_weights = int(np.prod(filters))
        if filters[0] != p["num_filters"] or flat.size != n_weights + biases[1]:
            raise DlibFormatError(f"con_4 at offset {offset}: {flat.size} parameters do not fit filters {filters} + biases {biases}")
        p["weight"] = flat[:n_weights].reshape(filters)  # (F, C, KH, KW): torch's OIHW layout
        p["bias"] = flat[n_weights:].copy()
    elif kind == "affine_":
        flat = reader.tensor().reshape(-1)
        gamma = reader.shape()
        beta = reader.shape()
        p["mode"] = reader.int()
        channels = gamma[1]
        if p["mode"] != 0 or beta[1] != channels or flat.size != 2 * channels:
            raise DlibFormatError(f"affine_ at offset {offset}: unsupported mode {p['mode']} or shapes {gamma}/{beta}")
        p["gamma"] = flat[:channels].copy()
        p["beta"] = flat[channels:].copy()
    elif kind in ("relu_", "add_prev_"):
        pass
    elif kind in ("max_pool_2", "avg_pool_2"):
        p["window"] = (reader.int(), reader.int())
        p["stride"] = (reader.int(), reader.int())
        p["padding"] = (reader.int(), reader.int())
    elif kind == "fc_2":
        p["num_outputs"] = reader.int()
        p["num_inputs"] = reader.int()
        flat = reader.tensor().reshape(-1)
        weights = reader.shape()
        reader.shape()  # biases
        p["bias_mode"] = reader.int()
        for _ in range(4):
            reader.scalar()
        n_in, n_out = p["num_inputs"], p["num_outputs"]
        if p["bias_mode"] != 1 or flat.size != n_in * n_out or weights[:2] != (n_in, n_out):
            raise DlibFormatError(f"fc_2 at offset {offset}: expected a bias-free {n_in}x{n_out} matrix, got {weights}, mode {p['bias_mode']}")
        # Stored (inputs, outputs) and applied as x @ W: reading it as torch's (out, in) is the
        # silent mistake the notes warn about.
        p["weight_in_out"] = flat.reshape(n_in, n_out)
    else:
        raise DlibFormatError(f"unknown layer type {kind!r} at offset {offset}")
    return Record(kind, offset, p)


def _read_trailer(reader: _Reader, bottom: bool) -> None:
    # setup_called, gradient_input_is_stale, output_and_gradient_disabled; then three tensors
    # (empty in this file, but parsed as tensors rather than skipped by byte count): x_grad,
    # cached_output and params_grad, or for the bottom layer x_grad, cached_output and
    # grad_final followed by the sample-expansion factor.
    for _ in range(3):
        reader.bool()
    for _ in range(3):
        reader.tensor()
    if bottom:
        reader.int()


def parse(data: bytes) -> DlibNetwork:
    reader = _Reader(data)
    if reader.int() != 1:
        raise DlibFormatError("expected the loss wrapper's version 1 at offset 0")
    loss = reader.string()
    if loss != "loss_metric_2":
        raise DlibFormatError(f"expected a loss_metric_2 network, found {loss!r}")
    margin = reader.float32()
    threshold = reader.float32()

    versions: list[int] = []
    while True:
        at = reader.pos
        version = reader.int()
        if version not in (TAG_OR_SKIP, LAYER, BOTTOM_LAYER):
            raise DlibFormatError(f"unexpected wrapper version {version} at offset {at}")
        versions.append(version)
        if version == BOTTOM_LAYER:
            break
        if len(versions) > 10_000:
            raise DlibFormatError("no bottom layer found in the wrapper header")

    input_kind = reader.string()
    if input_kind != "input_rgb_image_sized":
        raise DlibFormatError(f"expected input_rgb_image_sized, found {input_kind!r}")
    mean = (reader.float32(), reader.float32(), reader.float32())
    size = (reader.int(), reader.int())

    sequence: list = []
    for version in reversed(versions):  # the body runs input→output, the header the other way
        if version == TAG_OR_SKIP:
            sequence.append("marker")
            continue
        sequence.append(_read_record(reader))
        _read_trailer(reader, bottom=version == BOTTOM_LAYER)

    if reader.pos != len(data):
        raise DlibFormatError(f"{len(data) - reader.pos} unread bytes after the last layer (at offset {reader.pos})")
    return DlibNetwork(loss, margin, threshold, input_kind, mean, size, sequence, len(data))


def load(path: str | Path) -> DlibNetwork:
    return parse(Path(path).read_bytes())


# --------------------------------------------------------------------------------------------
# From the flat layer sequence to a residual network


@dataclass
class ResidualUnit:
    down: bool  # True: stride-2 first conv, 2x2 average-pooled shortcut zero-extended by add_prev
    conv1: Record
    affine1: Record
    conv2: Record
    affine2: Record
    pool: Record | None = None


@dataclass
class NetworkLayout:
    stem_conv: Record
    stem_affine: Record
    stem_pool: Record
    units: list[ResidualUnit]
    global_pool: Record
    fc: Record


def _expect(items: list, i: int, kind: str) -> Record:
    if i >= len(items) or not isinstance(items[i], Record) or items[i].kind != kind:
        found = "end of file" if i >= len(items) else (items[i] if isinstance(items[i], str) else items[i].kind)
        raise DlibFormatError(f"layer {i}: expected {kind}, found {found}")
    return items[i]


def residual_units(net: DlibNetwork) -> NetworkLayout:
    """Recover the stem, the residual units and the head from tag/skip markers.

    Every residual unit starts with a marker (tag1). A down-sampling unit has two consecutive
    markers (tag2, skip1) before its shortcut's avg_pool; an identity unit adds tag1 back.
    """
    s = net.sequence
    i = 0
    stem_conv = _expect(s, i, "con_4"); i += 1
    stem_affine = _expect(s, i, "affine_"); i += 1
    _expect(s, i, "relu_"); i += 1
    stem_pool = _expect(s, i, "max_pool_2"); i += 1
    units = []
    while i < len(s) and s[i] == "marker":
        i += 1
        conv1 = _expect(s, i, "con_4"); i += 1
        affine1 = _expect(s, i, "affine_"); i += 1
        _expect(s, i, "relu_"); i += 1
        conv2 = _expect(s, i, "con_4"); i += 1
        affine2 = _expect(s, i, "affine_"); i += 1
        pool = None
        if i + 1 < len(s) and s[i] == "marker" and s[i + 1] == "marker":
            i += 2
            pool = _expect(s, i, "avg_pool_2"); i += 1
        _expect(s, i, "add_prev_"); i += 1
        _expect(s, i, "relu_"); i += 1
        units.append(ResidualUnit(pool is not None, conv1, affine1, conv2, affine2, pool))
    global_pool = _expect(s, i, "avg_pool_2"); i += 1
    fc = _expect(s, i, "fc_2"); i += 1
    if i != len(s):
        raise DlibFormatError(f"{len(s) - i} unexpected layers after the fc layer")
    if global_pool.params["window"] != (0, 0):
        raise DlibFormatError("the layer before fc must be a global average pool (window 0x0)")
    return NetworkLayout(stem_conv, stem_affine, stem_pool, units, global_pool, fc)
