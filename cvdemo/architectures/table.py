"""The architecture table: parameters, operations, depth and accuracy, counted on the builders.

Everything is counted on the meta device (no weights, no arithmetic): parameters with
``numel``, operations with ``torch.utils.flop_counter.FlopCounterMode``. FlopCounterMode
reports FLOPs = 2 × multiply-accumulates; the table reports MACs ("mult-adds", the unit of
almost every paper's "FLOPs") and FLOPs = 2 × MACs beside them. Only convolutions, matrix
products and attention are counted, as in the papers: activations, pooling, normalisation and
bias additions are not.

Rows are cached in the process and on disk (``weights/converted/architectures-….json``),
keyed by the torch/torchvision versions and this module's format version.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvdemo.architectures.catalog import NETWORKS, Network, get
from cvdemo.architectures.graph import analyse

FORMAT_VERSION = 3
DENSE_MODULES = (nn.Linear, nn.MultiheadAttention)
CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
NORM_MODULES = (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)

_lock = threading.Lock()
_memory: dict[str, dict] = {}


def cache_path() -> Path:
    import torchvision

    from cvdemo.weights import CONVERTED_DIR

    key = f"{FORMAT_VERSION}-{torch.__version__}-{torchvision.__version__}"
    return CONVERTED_DIR / f"architectures-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def parameter_breakdown(network: nn.Module) -> dict[str, int]:
    """Parameters by the kind of module that owns them: conv, dense, norm, other."""
    counts = {"conv": 0, "dense": 0, "norm": 0, "other": 0}
    for module in network.modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if not own:
            continue
        if isinstance(module, CONV_MODULES):
            counts["conv"] += own
        elif isinstance(module, DENSE_MODULES):
            counts["dense"] += own
        elif isinstance(module, NORM_MODULES) or "norm" in type(module).__name__.lower():
            counts["norm"] += own
        else:
            counts["other"] += own  # class tokens, position embeddings, layer scales
    return counts


def count_macs(network: nn.Module, size: int) -> int:
    """Multiply-accumulates of one forward pass at size×size (FlopCounterMode FLOPs / 2)."""
    device = next(network.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        network(torch.zeros(1, 3, size, size, device=device))
    return counter.get_total_flops() // 2


def _weights_meta(enum_name: str | None) -> dict:
    if not enum_name:
        return {}
    from torchvision.models import get_weight

    return get_weight(enum_name).meta


def compute_row(spec: Network) -> dict:
    """One table row, counted afresh (seconds for the largest networks)."""
    network = spec.build("meta")
    breakdown = parameter_breakdown(network)
    params = sum(p.numel() for p in network.parameters())
    size = spec.input_size if spec.fixed_input else 224
    graph = analyse(network, (size, size), spec.name)
    macs_native = graph.total_macs if spec.input_size == size else count_macs(network, spec.input_size)
    macs_224 = graph.total_macs if size == 224 else None
    original = _weights_meta(spec.original_weights)
    best = _weights_meta(spec.best_weights) if spec.best_weights else original
    top = original.get("_metrics", {}).get("ImageNet-1K", {})
    best_top = best.get("_metrics", {}).get("ImageNet-1K", {})
    return {
        "name": spec.name,
        "title": spec.title,
        "year": spec.year,
        "idea": spec.idea,
        "params": params,
        "params_inference": graph.params_used,
        "conv_params": breakdown["conv"],
        "dense_params": breakdown["dense"],
        "norm_params": breakdown["norm"],
        "other_params": breakdown["other"],
        "dense_share": breakdown["dense"] / params,
        "conv_share": breakdown["conv"] / params,
        "macs_224": macs_224,
        "flops_224": 2 * macs_224 if macs_224 is not None else None,
        "input_size": spec.input_size,
        "macs_native": macs_native,
        "depth": graph.depth,
        "weighted_layers": graph.weighted_layers,
        "top1": top.get("acc@1"),
        "top5": top.get("acc@5"),
        "top1_best": best_top.get("acc@1"),
        "weights": spec.original_weights,
        "best_weights": spec.best_weights or spec.original_weights,
        "meta_num_params": original.get("num_params"),
        "meta_ops": original.get("_ops"),  # torchvision's "GFLOPS", which are in fact G mult-adds
        "final_rf": _final_field(graph),
    }


def _final_field(graph) -> str:
    spatial = graph.spatial_layers()
    if not spatial:
        return ""
    last = spatial[-1]
    return f"{last.field.size[0]:g} px ({last.name})"


def _load_disk() -> dict[str, dict]:
    path = cache_path()
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return payload.get("rows", {}) if isinstance(payload, dict) else {}


def _save_disk(rows: dict[str, dict]) -> None:
    from cvdemo.weights import atomic_write

    payload = json.dumps({"format": FORMAT_VERSION, "rows": rows}, indent=1).encode()
    try:
        atomic_write(cache_path(), lambda handle: handle.write(payload))
    except OSError:
        pass  # a read-only checkout still works, it only recounts in each new process


def table(names: Iterable[str] | None = None, *, progress: Callable[[int, int, str], None] | None = None,
          use_disk: bool = True) -> list[dict]:
    """Rows for ``names`` (default: every network), counting only the ones not cached yet.

    ``progress(done, total, title)`` is called before each network and once at the end.
    """
    specs = [get(n) for n in names] if names is not None else list(NETWORKS)
    with _lock:
        if use_disk and not _memory:
            _memory.update(_load_disk())
        missing = [s for s in specs if s.name not in _memory]
    for index, spec in enumerate(missing):
        if progress:
            progress(index, len(missing), spec.title)
        row = compute_row(spec)
        with _lock:
            _memory[spec.name] = row
            if use_disk:
                on_disk = _load_disk()
                on_disk[spec.name] = row
                _save_disk(on_disk)
    if progress:
        progress(len(missing), len(missing), "")
    with _lock:
        rows = [dict(_memory[s.name]) for s in specs]
    for row, spec in zip(rows, specs):
        # Descriptive text comes from the catalogue, so editing it needs no recount.
        row.update(title=spec.title, year=spec.year, idea=spec.idea)
    return rows


def pending(names: Iterable[str] | None = None) -> list[str]:
    """Networks whose rows are not cached yet (so the page knows whether to show progress)."""
    with _lock:
        if not _memory:
            _memory.update(_load_disk())
        return [n.name for n in ([get(x) for x in names] if names is not None else NETWORKS) if n.name not in _memory]


def clear_cache(disk: bool = False) -> None:
    with _lock:
        _memory.clear()
    if disk:
        cache_path().unlink(missing_ok=True)


def weights_status(row: dict) -> str:
    """"ready" or "downloadable" for the row's original weights ("none" for custom networks)."""
    if not row.get("weights"):
        return "none"
    from cvdemo.weights import TorchvisionWeights

    return TorchvisionWeights(row["weights"]).status().status.value


def display_rows(rows: list[dict]) -> list[dict]:
    """Rounded, human-readable columns for tables and the command line."""
    out = []
    for row in rows:
        out.append({
            "network": row["title"],
            "year": row["year"],
            "params (M)": round(row["params"] / 1e6, 2),
            "dense params %": round(100 * row["dense_share"], 1),
            "conv params %": round(100 * row["conv_share"], 1),
            "GMACs @224": _giga(row["macs_224"]),
            "GFLOPs @224 (2×MACs)": _giga(row["flops_224"]),
            "input": row["input_size"],
            "GMACs @input": round(row["macs_native"] / 1e9, 3),
            "depth": row["depth"],
            "weighted layers": row["weighted_layers"],
            "top-1 % (original recipe)": row["top1"],
            "top-1 % (best torchvision)": row["top1_best"],
            "final RF": row["final_rf"],
            "idea": row["idea"],
        })
    return out


def _giga(value: int | None) -> float | None:
    return round(value / 1e9, 3) if value is not None else None


def seed_comparison(rows: list[dict], tolerance: float = 0.05) -> list[dict]:
    """Each seed figure beside ours: relative difference and, where it exceeds ``tolerance``,
    the network's note on why."""
    out = []
    for row in rows:
        spec = get(row["name"])
        for seed in spec.seeds:
            if seed.quantity == "params":
                ours = row["params"]
                fmt = lambda v: f"{v / 1e6:.1f} M"
            elif seed.quantity == "macs":
                ours = row["macs_native"]
                fmt = lambda v: f"{v / 1e9:.3g} G" if v >= 1e9 else f"{v / 1e6:.0f} M"
            else:
                ours = row["depth"]
                fmt = lambda v: f"{v:g}"
            difference = (ours - seed.value) / seed.value
            out.append({
                "network": row["title"],
                "quantity": {"params": "parameters", "macs": "mult-adds (MACs)", "depth": "depth (weighted layers)"}[seed.quantity],
                "quoted": fmt(seed.value),
                "source": seed.source,
                "counted here": fmt(ours),
                "difference %": round(100 * difference, 1),
                "why": spec.note if abs(difference) > tolerance else "agrees",
            })
    return out
