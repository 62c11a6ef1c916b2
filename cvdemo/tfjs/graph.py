"""Reading a TensorFlow.js graph model: ``model.json`` (topology + weights manifest) and its shards.

The format, as the tfjs converter writes it:

* ``modelTopology.node`` is a TensorFlow ``GraphDef`` in JSON: each node has ``name``, ``op``,
  ``input`` (``"name"``, ``"name:1"`` for a second output, ``"^name"`` for a control edge) and
  ``attr`` (``{"s": base64}``, ``{"i": "3"}``, ``{"f": 0.1}``, ``{"b": true}``, ``{"list": …}``,
  ``{"type": "DT_FLOAT"}``, ``{"shape": …}``, ``{"tensor": …}``).
* ``weightsManifest`` is a list of groups; a group's ``paths`` are shards to be concatenated, and
  its ``weights`` lie back to back in that byte stream, little-endian. A weight may be quantised:
  ``{"dtype": "float16"}`` stores IEEE halves; ``{"dtype": "uint8"|"uint16", "scale", "min"}``
  stores affine codes (value = code * scale + min). ``int64`` graph constants are stored as
  ``int32`` (the converter narrows them); the node's own ``dtype`` attribute restores the type.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class TFJSFormatError(ValueError):
    """model.json or a shard is not what the TF.js graph-model format promises."""


_TF_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_HALF": np.float16,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_INT16": np.int16,
    "DT_INT8": np.int8,
    "DT_UINT8": np.uint8,
    "DT_BOOL": np.bool_,
}

_MANIFEST_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "complex64": np.complex64,
}

_QUANTISED_DTYPES: dict[str, type[np.generic]] = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def tf_dtype(name: str):
    try:
        return _TF_DTYPES[name]
    except KeyError:
        raise TFJSFormatError(f"unsupported TensorFlow dtype {name}") from None


@dataclass
class TFNode:
    name: str
    op: str
    inputs: list[str]  # data inputs only, "name" or "name:k"; control edges are dropped
    attrs: dict[str, Any]  # decoded: str, int, float, bool, list, numpy dtype, shape list, ndarray

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


@dataclass
class TFGraph:
    nodes: dict[str, TFNode]  # in file order
    signature_inputs: dict[str, list[int]] = field(default_factory=dict)  # placeholder -> shape (-1 unknown)
    signature_outputs: dict[str, list[int]] = field(default_factory=dict)
    weight_specs: dict[str, dict] = field(default_factory=dict)  # manifest entries by name
    source: Path | None = None
    metadata: dict = field(default_factory=dict)

    def consumers(self) -> dict[str, list[str]]:
        """Tensor reference ("name" or "name:k") -> names of the nodes that read it."""
        result: dict[str, list[str]] = {}
        for node in self.nodes.values():
            for ref in node.inputs:
                result.setdefault(canonical_ref(ref), []).append(node.name)
        return result

    def constant_shape(self, name: str) -> tuple[int, ...]:
        spec = self.weight_specs.get(name)
        if spec is not None:
            return tuple(int(d) for d in spec["shape"])
        node = self.nodes[name]
        value = node.attr("value")
        if isinstance(value, np.ndarray):
            return tuple(value.shape)
        raise TFJSFormatError(f"constant {name} has neither a manifest entry nor an inline value")


def split_ref(ref: str) -> tuple[str, int]:
    """``"a/b:1"`` -> ``("a/b", 1)``; ``"a/b"`` -> ``("a/b", 0)``."""
    name, sep, index = ref.rpartition(":")
    if sep and index.isdigit():
        return name, int(index)
    return ref, 0


def canonical_ref(ref: str) -> str:
    name, index = split_ref(ref)
    return name if index == 0 else f"{name}:{index}"


def _decode_attr(value: dict) -> Any:
    if "s" in value:
        return base64.b64decode(value["s"]).decode("utf-8", errors="replace")
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    if "tensor" in value:
        return _decode_inline_tensor(value["tensor"])
    if "list" in value:
        items = value["list"]
        if "i" in items:
            return [int(v) for v in items["i"]]
        if "f" in items:
            return [float(v) for v in items["f"]]
        if "s" in items:
            return [base64.b64decode(v).decode("utf-8", errors="replace") for v in items["s"]]
        if "b" in items:
            return [bool(v) for v in items["b"]]
        if "type" in items:
            return list(items["type"])
        return []
    if "func" in value:
        return value["func"]
    return None


def _decode_inline_tensor(tensor: dict) -> np.ndarray | None:
    """A ``TensorProto`` in JSON; the tfjs converter normally moves values to the manifest."""
    dtype = tf_dtype(tensor.get("dtype", "DT_FLOAT"))
    dims = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
    if "tensorContent" in tensor:
        raw = base64.b64decode(tensor["tensorContent"])
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(dims)
    for key in ("floatVal", "intVal", "int64Val", "boolVal", "doubleVal", "halfVal"):
        if key in tensor:
            values = np.asarray(tensor[key], dtype=dtype)
            count = int(np.prod(dims)) if dims else 1
            if values.size == 1 and count != 1:  # TF repeats a single value over the whole shape
                values = np.full(count, values.reshape(()), dtype=dtype)
            return values.reshape(dims)
    return None  # declared only (its value lives in the weights manifest)


def read_model_json(path: str | Path) -> TFGraph:
    """Parse ``model.json`` without touching the shards."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TFJSFormatError(f"cannot read {path}: {exc}") from None
    if document.get("format") not in (None, "graph-model"):
        raise TFJSFormatError(f"{path} is a {document.get('format')!r} model; only TF.js graph models are supported")
    topology = document.get("modelTopology") or {}
    if "node" not in topology:
        raise TFJSFormatError(f"{path} has no modelTopology.node list (a layers model?)")
    nodes: dict[str, TFNode] = {}
    for raw in topology["node"]:
        attrs = {key: _decode_attr(value) for key, value in raw.get("attr", {}).items()}
        inputs = [ref for ref in raw.get("input", []) if not ref.startswith("^")]
        nodes[raw["name"]] = TFNode(raw["name"], raw["op"], inputs, attrs)
    if topology.get("library", {}).get("function"):
        raise TFJSFormatError(f"{path} uses graph functions (control flow), which this loader does not run")
    signature = document.get("signature") or {}

    def shapes(entries: dict) -> dict[str, list[int]]:
        return {key.split(":")[0]: [int(d.get("size", -1)) for d in entry.get("tensorShape", {}).get("dim", [])]
                for key, entry in entries.items()}

    weight_specs: dict[str, dict] = {}
    for group_index, group in enumerate(document.get("weightsManifest", [])):
        for entry in group["weights"]:
            weight_specs[entry["name"]] = dict(entry, group=group_index)
    return TFGraph(
        nodes=nodes,
        signature_inputs=shapes(signature.get("inputs", {})),
        signature_outputs=shapes(signature.get("outputs", {})),
        weight_specs=weight_specs,
        source=path,
        metadata={key: document.get(key) for key in ("generatedBy", "convertedBy", "userDefinedMetadata") if key in document},
    )


def shard_paths(path: str | Path) -> list[Path]:
    """The shard files ``model.json`` refers to, in manifest order."""
    path = Path(path)
    document = json.loads(path.read_text())
    return [path.parent / shard for group in document.get("weightsManifest", []) for shard in group["paths"]]


def read_weights(graph: TFGraph) -> dict[str, np.ndarray]:
    """Every manifest weight, dequantised to float32 (floats) or its integer/bool type."""
    if graph.source is None:
        raise TFJSFormatError("the graph was not read from a file, so its shards cannot be found")
    document = json.loads(graph.source.read_text())
    result: dict[str, np.ndarray] = {}
    for group in document.get("weightsManifest", []):
        chunks = []
        for shard in group["paths"]:
            shard_path = graph.source.parent / shard
            try:
                chunks.append(shard_path.read_bytes())
            except OSError as exc:
                raise TFJSFormatError(f"weight shard {shard_path} cannot be read: {exc}") from None
        buffer = b"".join(chunks)
        offset = 0
        for entry in group["weights"]:
            array, size = _decode_weight(entry, buffer, offset)
            offset += size
            result[entry["name"]] = array
        if offset != len(buffer):
            raise TFJSFormatError(
                f"shards {group['paths']} hold {len(buffer)} bytes but the manifest describes {offset}; the files do not belong together"
            )
    return result


def _decode_weight(entry: dict, buffer: bytes, offset: int) -> tuple[np.ndarray, int]:
    shape = [int(d) for d in entry["shape"]]
    count = int(np.prod(shape)) if shape else 1
    dtype = entry["dtype"]
    quantization = entry.get("quantization")
    if dtype == "string":
        raise TFJSFormatError(f"string weight {entry['name']} is not supported")
    if quantization:
        stored = _QUANTISED_DTYPES.get(quantization["dtype"])
        if stored is None:
            raise TFJSFormatError(f"weight {entry['name']} uses unknown quantisation {quantization['dtype']!r}")
        size = count * np.dtype(stored).itemsize
        codes = _view(buffer, offset, stored, count, entry["name"])
        if stored is np.float16:
            values = codes.astype(np.float32)
        else:
            values = codes.astype(np.float32) * np.float32(quantization["scale"]) + np.float32(quantization["min"])
        target = _MANIFEST_DTYPES.get(dtype, np.float32)
        if target is not np.float32:  # quantised integer weights round back to their type
            values = np.rint(values).astype(target)
        return values.reshape(shape), size
    stored = _MANIFEST_DTYPES.get(dtype)
    if stored is None:
        raise TFJSFormatError(f"weight {entry['name']} has unsupported dtype {dtype!r}")
    size = count * np.dtype(stored).itemsize
    return _view(buffer, offset, stored, count, entry["name"]).copy().reshape(shape), size


def _view(buffer: bytes, offset: int, dtype, count: int, name: str) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    if offset + count * itemsize > len(buffer):
        raise TFJSFormatError(f"weight {name} runs past the end of its shards; the .bin files are truncated")
    return np.frombuffer(buffer, dtype=np.dtype(dtype).newbyteorder("<"), count=count, offset=offset)


def constant_values(graph: TFGraph, weights: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every ``Const`` node's value with the graph's own dtype (int64 restored from int32)."""
    weights = read_weights(graph) if weights is None else weights
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes.values():
        if node.op != "Const":
            continue
        value = weights.get(node.name)
        if value is None:
            value = node.attr("value")
        if value is None:
            raise TFJSFormatError(f"constant {node.name} has no value in the manifest nor inline")
        declared = node.attr("dtype")
        if isinstance(declared, str) and declared in _TF_DTYPES:
            value = np.asarray(value).astype(_TF_DTYPES[declared], copy=False)
        values[node.name] = np.asarray(value)
    return values
