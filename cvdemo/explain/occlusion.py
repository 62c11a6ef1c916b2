"""Occlusion sensitivity (Zeiler & Fergus 2014), exact and fast.

Slide a patch of ``baseline`` values over the input; a pixel's attribution is the drop of the
score, ``f(x) − f(x with the patch covering it)``, averaged over every patch position covering it —
the same definition and window placement as ``captum.attr.Occlusion`` (first patch at the corner,
strides until the dimension is covered, the last patch possibly cut off).

It is the slow method: 784 forward passes for a 224×224 input at stride 8. Three things make it
fast here without approximating anything:

1. **Batching** patch positions (as captum's ``perturbations_per_eval``), channels-last memory
   and, on CUDA, fp16 autocast.
2. **Reusing what the patch does not reach.** The early layers of a CNN are *local*: an output
   position depends only on the input pixels in its window (receptive field). A patch therefore
   changes only a small region of early feature maps; everything else equals the unoccluded
   image's feature map, computed once. The traced network is cut into pieces at points where a
   single tensor carries everything forward (after each residual block, say). For each piece and
   patch we run the piece only on a crop of its input — the cached unoccluded map with the
   changed region of the previous piece pasted in — large enough to hold the windows of every
   output the patch can change, and keep exactly those outputs. Crops are aligned to the piece's
   stride so the convolution grid is the network's own grid, and where a crop meets the image
   border the network's own zero padding applies. The result equals the full forward pass up to
   float rounding (checked against the full network on a few patches whenever a plan is built,
   and in the tests against a brute-force loop).
3. **Folding BatchNorm** into the preceding convolutions (exact in eval mode).

Which cuts to use is chosen by a small dynamic programme over a cost model (multiply-adds plus
memory traffic, scaled by crop area). Once the windows cover the whole map (MobileNetV2's last
blocks at stride 32 see the whole 224×224 image), the rest runs on full maps.

A model that is a plain function, or that ``torch.fx`` cannot trace, gets the batched path only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from cvdemo.device import autocast
from cvdemo.explain import graph as G
from cvdemo.fx_geometry import ReceptiveField
from cvdemo.geometry import pair
from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionInsight,
    AttributionMethod,
    ProgressFn,
    Timer,
    TopClass,
    model_device,
    private_copy,
    report,
    select_scores,
)

BASELINES = ("zero", "blur", "mean")


# ---------------------------------------------------------------------------------------------
# Geometry shared by every path


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch positions along one dimension, as captum places them."""
    if patch > size:
        raise AttributionError(f"the occlusion patch ({patch} px) is larger than the input ({size} px)")
    if stride > patch and patch < size:
        raise AttributionError(f"stride {stride} > patch {patch} would leave pixels that no patch covers")
    return [i * stride for i in range(math.ceil((size - patch) / stride) + 1)]


def patch_spans(size: tuple[int, int], patch: tuple[int, int], stride: tuple[int, int]):
    """Per dimension, the (starts, stops) arrays of every patch position, cut off at the border."""
    spans = []
    for dim in range(2):
        starts = np.array(window_starts(size[dim], patch[dim], stride[dim]))
        spans.append((starts, np.minimum(starts + patch[dim], size[dim])))
    return tuple(spans)


def _changed_ranges(window: ReceptiveField, map_size, spans) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per dimension, the (lows, highs) of the outputs each patch position can change in a map."""
    ranges = []
    for dim in range(2):
        lows, highs = zip(*(window.affected(int(a), int(b), map_size[dim], dim) for a, b in zip(*spans[dim])))
        ranges.append((np.array(lows), np.array(highs)))
    return tuple(ranges)


def make_baseline(inputs: torch.Tensor, kind, patch: tuple[int, int] = (16, 16), blur_sigma: float | None = None) -> torch.Tensor:
    """What an occluded pixel becomes, as a tensor of ``inputs``' shape.

    * ``zero``: 0 in the network's input space — for mean/std-normalised models, the dataset's
      mean colour;
    * ``mean``: each channel's mean over this image (its average colour);
    * ``blur``: a Gaussian blur of the image (σ = half the patch by default): the patch loses its
      detail but keeps its colour, so the score drop measures texture/shape evidence;
    * a number or a tensor broadcastable to ``inputs``.
    """
    if isinstance(kind, torch.Tensor):
        return kind.to(inputs.device, inputs.dtype).expand_as(inputs).clone()
    if isinstance(kind, (int, float)):
        return torch.full_like(inputs, float(kind))
    if kind == "zero":
        return torch.zeros_like(inputs)
    if kind == "mean":
        return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs).clone()
    if kind == "blur":
        from torchvision.transforms.v2 import functional as TF

        sigma = float(blur_sigma) if blur_sigma else max(1.0, max(patch) / 2.0)
        kernel = int(2 * math.ceil(3 * sigma) + 1)
        limit = 2 * (min(inputs.shape[-2:]) // 2) - 1  # reflect padding needs a kernel smaller than the image
        kernel = max(3, min(kernel, limit))
        return TF.gaussian_blur(inputs, [kernel, kernel], [sigma, sigma])
    raise AttributionError(f"unknown occlusion baseline {kind!r}; use one of {', '.join(BASELINES)}, a number or a tensor")


def occluded(inputs: torch.Tensor, baseline: torch.Tensor, row: int, col: int, patch: tuple[int, int]) -> torch.Tensor:
    out = inputs.clone()
    out[..., row:row + patch[0], col:col + patch[1]] = baseline[..., row:row + patch[0], col:col + patch[1]]
    return out


def accumulate(diffs: np.ndarray, rows: list[int], cols: list[int], patch: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Average of the score drops of every patch covering each pixel, as an (H, W) map.

    ``diffs`` is (len(rows), len(cols)). With indicator matrices A (positions × pixels) the sums
    are Aᵣᵀ·D·A_c and the counts the outer product of the coverage counts: exact, no loops.
    """
    height, width = size
    a_rows = np.zeros((len(rows), height), dtype=np.float64)
    for i, r in enumerate(rows):
        a_rows[i, r:r + patch[0]] = 1.0
    a_cols = np.zeros((len(cols), width), dtype=np.float64)
    for j, c in enumerate(cols):
        a_cols[j, c:c + patch[1]] = 1.0
    total = a_rows.T @ diffs.astype(np.float64) @ a_cols
    count = np.outer(a_rows.sum(0), a_cols.sum(0))
    return (total / np.maximum(count, 1.0)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The reference: one forward pass per patch, nothing clever (tests compare against it)


@torch.inference_mode()
def occlusion_reference(model: Callable, inputs: torch.Tensor, target: int | None, patch=16, stride=8,
                        baseline="zero") -> np.ndarray:
    """(N, H, W) maps by a plain loop over patch positions, one item and one patch at a time."""
    patch, stride = pair(patch), pair(stride)
    maps = []
    for item in range(inputs.shape[0]):
        x = inputs[item:item + 1]
        base = make_baseline(x, baseline, patch)
        rows = window_starts(x.shape[-2], patch[0], stride[0])
        cols = window_starts(x.shape[-1], patch[1], stride[1])
        reference = float(select_scores(model(x), target)[0])
        diffs = np.zeros((len(rows), len(cols)))
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                diffs[i, j] = reference - float(select_scores(model(occluded(x, base, r, c, patch)), target)[0])
        maps.append(accumulate(diffs, rows, cols, patch, (x.shape[-2], x.shape[-1])))
    return np.stack(maps)


# ---------------------------------------------------------------------------------------------
# The incremental plan


@dataclass
class _Stage:
    """One piece of the network run on crops: ``module`` maps a crop of ``start``'s map to ``end``'s."""

    module: nn.Module  # an fx.GraphModule, or its oneDNN-frozen TorchScript on a CPU
    stride: tuple[int, int]  # of this piece, in its input's pixels
    crop: tuple[int, int]  # crop size in the input map
    region: tuple[int, int]  # size of the output region kept per patch
    # Per patch position (rows and columns separately):
    crop_start: tuple[np.ndarray, np.ndarray]  # in the input map
    region_start: tuple[np.ndarray, np.ndarray]  # in the output map


@dataclass
class Plan:
    stages: list[_Stage]
    tail: nn.Module  # last cut (full map) → model output, like _Stage.module
    rows: list[int]
    cols: list[int]
    patch: tuple[int, int]
    input_region: tuple[int, int]
    input_region_start: tuple[np.ndarray, np.ndarray]
    estimated_speedup: float
    description: str
    indices: dict = field(default_factory=dict)  # (device, patch numbers) → _BatchIndex

    @property
    def patches(self) -> int:
        return len(self.rows) * len(self.cols)


class NoPlan(Exception):
    """The incremental path does not apply to this model and geometry; the message says why (the
    batched path, exact too, runs instead)."""


def _map_shape(node: fx.Node) -> tuple[int, ...]:
    """The output shape ShapeProp recorded for ``node``."""
    shape = G.spatial_shape(node)
    if shape is None:
        raise NoPlan(f"{node.name} has no recorded tensor shape")
    return shape


# A piece's crop size, per-patch crop starts (rows, columns) and stride.
_Geometry = tuple[tuple[int, int], tuple[np.ndarray, np.ndarray], tuple[int, int]]


class _Prepared:
    """A private copy of the network, traced with BatchNorm folded; plans cached per geometry."""

    def __init__(self, network: nn.Module):
        self.network = network
        self.error: str | None = None
        self.gm: fx.GraphModule | None = None
        try:
            gm = G.trace(network)
            G.fold_batchnorm(gm)
            self.gm = gm
        except G.GraphError as exc:
            self.error = str(exc)
        self.plans: dict[tuple, Plan | NoPlan] = {}  # a geometry that cannot be planned is not tried again


# Cost-model weights (relative to one multiply-add per item). Copies of crops and maps are
# memory-bound: an element copied costs about as much as a few multiply-adds; every extra piece
# also costs a fixed amount of Python and kernel launches per batch, which weighs more on a GPU
# (where the arithmetic itself is cheap) than on a CPU.
COPY_COST = {"cpu": 4.0, "cuda": 4.0, "mps": 4.0}
STAGE_OVERHEAD = {"cpu": 2.0e5, "cuda": 2.0e6, "mps": 2.0e6}


def _build_plan(prep: _Prepared, example: torch.Tensor, patch: tuple[int, int], stride: tuple[int, int],
                device_type: str = "cpu") -> Plan:
    """Choose cuts and crops for this input size and patch geometry; :class:`NoPlan` says why not."""
    gm = prep.gm
    if gm is None:
        raise NoPlan(prep.error or "not traceable")
    copy_cost = COPY_COST.get(device_type, 4.0)
    stage_overhead = STAGE_OVERHEAD.get(device_type, 2.0e5)
    height, width = example.shape[-2:]
    rows = window_starts(height, patch[0], stride[0])
    cols = window_starts(width, patch[1], stride[1])
    try:
        ShapeProp(gm).propagate(example)
    except Exception as exc:  # shape propagation runs the model once; anything can go wrong
        raise NoPlan(f"shape propagation failed ({exc.__class__.__name__}: {exc})") from None
    nodes = list(gm.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise NoPlan("the model takes more than one input")
    start = placeholders[0]
    costs = G.node_costs(gm)
    order = {node: i for i, node in enumerate(nodes)}
    global_windows = G.windows_from(gm, start)
    cuts = [start] + [n for n in G.cut_points(gm) if global_windows.get(n) is not None
                      and (shape := G.spatial_shape(n)) is not None and len(shape) == 4]
    if len(cuts) < 2:
        raise NoPlan("no local layers to reuse")

    # Patch geometry at the input, per dimension: fixed-size region [c0, c0 + R0) holding the patch.
    region0 = (min(patch[0], height), min(patch[1], width))
    starts0 = (np.array([min(r, height - region0[0]) for r in rows]), np.array([min(c, width - region0[1]) for c in cols]))
    spans = patch_spans((height, width), patch, stride)

    # Region at each cut: outputs whose (global) window meets the patch, fixed size, clamped.
    def region_at(node: fx.Node):
        sizes = _map_shape(node)[-2:]
        window = global_windows[node]
        if window is None:  # the cuts above all have a window
            raise NoPlan(f"{node.name} has no receptive window")
        result_sizes, result_starts = [], []
        for dim, (lows, highs) in enumerate(_changed_ranges(window, sizes, spans)):
            size = int(max(1, (highs - lows).max()))
            size = min(size, sizes[dim])
            result_sizes.append(size)
            result_starts.append(np.clip(lows, 0, sizes[dim] - size))
        return tuple(result_sizes), tuple(result_starts)

    regions = {start: (region0, starts0)}
    for node in cuts[1:]:
        regions[node] = region_at(node)

    prefix_cost = np.cumsum([costs[n] for n in nodes])
    total_cost = float(prefix_cost[-1])

    def span_cost(u: fx.Node, v: fx.Node | None) -> float:
        end = order[v] if v is not None else len(nodes) - 1
        return float(prefix_cost[end] - prefix_cost[order[u]])

    def stage_geometry(u: fx.Node, v: fx.Node, windows: dict) -> _Geometry | None:
        """Crop size and per-patch crop starts for piece u → v, or None if it would not help."""
        in_shape, out_shape = _map_shape(u), _map_shape(v)
        window = windows.get(v)
        if window is None:
            return None
        (r_sizes, r_starts) = regions[v]
        crop, crop_starts = [], []
        for dim in range(2):
            axis = window.axes()[dim]
            s, p, f = axis.jump, axis.pad, axis.size
            n_in = in_shape[2 + dim]
            if out_shape[2 + dim] * s > n_in + s or n_in % s:
                # Sizes that the stride does not divide would misalign crops clamped at the end.
                size, starts = n_in, np.zeros_like(r_starts[dim])
            else:
                lead = math.ceil(p / s)
                size = (r_sizes[dim] - 1 + lead) * s - p + f
                size = s * math.ceil(size / s)
                if size >= n_in:
                    size, starts = n_in, np.zeros_like(r_starts[dim])
                else:
                    starts = np.clip((r_starts[dim] - lead) * s, 0, n_in - size)
            crop.append(size)
            crop_starts.append(starts)
        if crop[0] >= in_shape[2] and crop[1] >= in_shape[3]:
            return None  # the crop is the whole map: nothing saved
        return (crop[0], crop[1]), (crop_starts[0], crop_starts[1]), (window.axes()[0].jump, window.axes()[1].jump)

    # Dynamic programme over cut sequences.
    infinity = float("inf")
    # node -> (cost so far, previous node, geometry)
    best: dict[fx.Node, tuple[float, fx.Node | None, _Geometry | None]] = {start: (0.0, None, None)}
    window_cache = {}
    for j, v in enumerate(cuts[1:], start=1):
        best_cost, best_prev, best_geo = infinity, None, None
        for u in cuts[:j]:
            if u not in best or best[u][0] == infinity:
                continue
            if u not in window_cache:
                window_cache[u] = G.windows_from(gm, u)
            geometry = stage_geometry(u, v, window_cache[u])
            if geometry is None:
                continue
            crop, _, _ = geometry
            in_shape, out_shape = _map_shape(u), _map_shape(v)
            fraction = (crop[0] * crop[1]) / (in_shape[2] * in_shape[3])
            (r_sizes, _) = regions[v]
            copies = in_shape[1] * crop[0] * crop[1] + out_shape[1] * r_sizes[0] * r_sizes[1]
            cost = best[u][0] + fraction * span_cost(u, v) + copy_cost * copies + stage_overhead
            if cost < best_cost:
                best_cost, best_prev, best_geo = cost, u, geometry
        best[v] = (best_cost, best_prev, best_geo)

    def tail_cost(v: fx.Node) -> float:
        shape = _map_shape(v)
        paste = copy_cost * float(np.prod(shape[1:])) if v is not start else 0.0
        return span_cost(v, None) + paste

    finish, finish_cost = start, total_cost
    for v in cuts[1:]:
        if best[v][0] < infinity and best[v][0] + tail_cost(v) < finish_cost:
            finish, finish_cost = v, best[v][0] + tail_cost(v)
    if finish is start:
        raise NoPlan("cropping would not save work for this model and patch size")

    chain: list[tuple[fx.Node, fx.Node, _Geometry]] = []
    node = finish
    while node is not start:
        _, prev, geometry = best[node]
        assert prev is not None and geometry is not None  # a finite cost always records how it was reached
        chain.append((prev, node, geometry))
        node = prev
    chain.reverse()

    stages = []
    for u, v, (crop, crop_starts, piece_stride) in chain:
        r_sizes, r_starts = regions[v]
        stages.append(_Stage(G.subgraph(gm, u, v), piece_stride, crop, r_sizes, crop_starts, r_starts))
    tail = G.subgraph(gm, finish, None)
    description = " → ".join(f"{v.name}[{s.crop[0]}×{s.crop[1]}]" for (u, v, _), s in zip(chain, stages)) + " → full"
    return Plan(stages, tail, rows, cols, patch, region0, starts0, total_cost / max(finish_cost, 1.0), description)


def _window_index(starts: np.ndarray, size: int) -> np.ndarray:
    """(B,) starts → (B, size) consecutive indices."""
    return starts[:, None] + np.arange(size)[None, :]


@dataclass
class _Paste:
    """Where each item's region lands in a batch of target maps: one indexing kernel, no loop.

    Offsets can put part of a region outside the target (a crop clamped at the image border
    holds only part of the previous region); those elements are simply left out.
    """

    batch: torch.Tensor
    target_rows: torch.Tensor
    target_cols: torch.Tensor
    source_rows: torch.Tensor
    source_cols: torch.Tensor

    @staticmethod
    def build(row_offsets: np.ndarray, col_offsets: np.ndarray, region: tuple[int, int], target: tuple[int, int],
              device: torch.device) -> "_Paste":
        rows = row_offsets[:, None] + np.arange(region[0])[None, :]
        cols = col_offsets[:, None] + np.arange(region[1])[None, :]
        valid = ((rows >= 0) & (rows < target[0]))[:, :, None] & ((cols >= 0) & (cols < target[1]))[:, None, :]
        b, i, j = np.nonzero(valid)
        as_t = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
        return _Paste(as_t(b), as_t(rows[b, i]), as_t(cols[b, j]), as_t(i), as_t(j))

    def apply(self, target: torch.Tensor, region: torch.Tensor) -> None:
        _pixels(target)[self.batch, self.target_rows, self.target_cols] = \
            _pixels(region)[self.batch, self.source_rows, self.source_cols].to(target.dtype)


@dataclass
class _StageIndex:
    crop_rows: torch.Tensor  # (B, crop_h) rows of the stage's input map
    crop_cols: torch.Tensor
    paste: _Paste  # previous region → crops
    take_rows: torch.Tensor  # (B, region_h) rows of the stage's output (crop coordinates)
    take_cols: torch.Tensor


@dataclass
class _BatchIndex:
    """Every index a batch of patches needs, computed once per plan and batch, on the device."""

    input_rows: torch.Tensor
    input_cols: torch.Tensor
    mask: torch.Tensor  # (B, 1, h, w): which input-region pixels the patch covers
    stages: list[_StageIndex]
    final: _Paste  # last region → full maps

    @staticmethod
    def build(plan: Plan, indices: np.ndarray, device: torch.device, final_size: tuple[int, int]) -> "_BatchIndex":
        as_t = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
        n_cols = len(plan.cols)
        ri, ci = indices // n_cols, indices % n_cols
        r0, c0 = plan.input_region_start[0][ri], plan.input_region_start[1][ci]
        within_r = _window_index(np.zeros_like(r0), plan.input_region[0]) - (np.array(plan.rows)[ri] - r0)[:, None]
        within_c = _window_index(np.zeros_like(c0), plan.input_region[1]) - (np.array(plan.cols)[ci] - c0)[:, None]
        covered_r = (within_r >= 0) & (within_r < plan.patch[0])
        covered_c = (within_c >= 0) & (within_c < plan.patch[1])
        mask = torch.as_tensor(covered_r[:, :, None] & covered_c[:, None, :], device=device)[:, None]
        stages, prev_r, prev_c, prev_size = [], r0, c0, plan.input_region
        for stage in plan.stages:
            a_r, a_c = stage.crop_start[0][ri], stage.crop_start[1][ci]
            g_r, g_c = stage.region_start[0][ri], stage.region_start[1][ci]
            stages.append(_StageIndex(
                as_t(_window_index(a_r, stage.crop[0])), as_t(_window_index(a_c, stage.crop[1])),
                _Paste.build(prev_r - a_r, prev_c - a_c, prev_size, stage.crop, device),
                as_t(_window_index(g_r - a_r // stage.stride[0], stage.region[0])),
                as_t(_window_index(g_c - a_c // stage.stride[1], stage.region[1])),
            ))
            prev_r, prev_c, prev_size = g_r, g_c, stage.region
        final = _Paste.build(prev_r, prev_c, prev_size, final_size, device)
        return _BatchIndex(as_t(_window_index(r0, plan.input_region[0])), as_t(_window_index(c0, plan.input_region[1])),
                           mask, stages, final)


def _pixels(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → a (B, H, W, C) view. On channels-last maps each pixel's channels are then
    one contiguous vector, so indexing pixels moves whole vectors instead of single numbers
    (crops and pastes take 2.3× less time for MobileNetV2), and the result permuted back is
    channels-last again."""
    return maps.permute(0, 2, 3, 1)


def _gather(base: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) map, (B, h) rows and (B, w) columns → (B, C, h, w) crops in one kernel."""
    return _pixels(base)[0][rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _take(out: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Per-item windows of a batch (B, C, H, W) → (B, C, h, w)."""
    batch = torch.arange(out.shape[0], device=out.device)
    return _pixels(out)[batch[:, None, None], rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class _Runner:
    """Executes a plan for one input: caches the unoccluded maps, then scores batches of patches."""

    def __init__(self, plan: Plan, x: torch.Tensor, baseline: torch.Tensor, target: int | None,
                 memory_format: torch.memory_format):
        self.plan, self.target, self.memory_format = plan, target, memory_format
        self.x, self.baseline = x, baseline
        self.bases = []
        current = x.contiguous(memory_format=memory_format)
        for stage in plan.stages:
            self.bases.append(current)
            current = stage.module(current)
        self.last = current
        self.reference_output = plan.tail(current)

    def scores(self, indices: np.ndarray) -> torch.Tensor:
        return select_scores(self.outputs(indices), self.target).float()

    def outputs(self, indices: np.ndarray) -> torch.Tensor:
        """The model's outputs for the patches ``indices`` (row-major patch numbers)."""
        plan, device = self.plan, self.x.device
        key = (str(device), np.asarray(indices, dtype=np.int64).tobytes())
        index = plan.indices.get(key)
        if index is None:  # the same batches recur on every image of this size: build once
            index = plan.indices[key] = _BatchIndex.build(plan, indices, device, (self.last.shape[-2], self.last.shape[-1]))
        region = torch.where(index.mask, _gather(self.baseline, index.input_rows, index.input_cols),
                             _gather(self.x, index.input_rows, index.input_cols))
        for stage, base, where in zip(plan.stages, self.bases, index.stages):
            crops = _gather(base, where.crop_rows, where.crop_cols).contiguous(memory_format=self.memory_format)
            where.paste.apply(crops, region)
            region = _take(stage.module(crops), where.take_rows, where.take_cols)
        full = self.last.expand(len(indices), *self.last.shape[1:]).contiguous(memory_format=self.memory_format)
        index.final.apply(full, region)
        return plan.tail(full)


def _plan_key(x: torch.Tensor, patch, stride) -> tuple:
    return tuple(x.shape[1:]), patch, stride, str(x.device)


def _plan_for(prep: _Prepared, x: torch.Tensor, patch, stride) -> Plan:
    """The plan for this geometry, built and verified once; raises :class:`NoPlan` (also remembered)."""
    key = _plan_key(x, patch, stride)
    if key not in prep.plans:
        try:
            with torch.inference_mode():
                plan = _verified(prep, _build_plan(prep, x.float(), patch, stride, x.device.type), x.float())
            for module in [stage.module for stage in plan.stages] + [plan.tail]:
                module.to(memory_format=torch.channels_last)
            if x.device.type == "cpu":
                _use_cpu_kernels(prep, plan, x.float())
            prep.plans[key] = plan
        except NoPlan as reason:
            prep.plans[key] = reason
    found = prep.plans[key]
    if isinstance(found, NoPlan):
        raise found
    return found


def _cpu_inference_module(module: nn.Module) -> nn.Module | None:
    """The module frozen for oneDNN: weights prepacked once, activations fused into the
    convolutions and kept in oneDNN's blocked layout between layers. On a CPU the arithmetic left
    after cropping is mostly the full-map tail, and this runs it about 1.5× faster than eager."""
    try:
        with warnings.catch_warnings():
            # Deprecated in favour of torch.compile, which compiles for seconds and then runs this
            # tail slower than TorchScript; if TorchScript goes, eager stays.
            warnings.simplefilter("ignore")
            scripted = torch.jit.freeze(torch.jit.script(module.eval()))
            return torch.jit.optimize_for_inference(scripted)
    except Exception:  # noqa: BLE001 — an op TorchScript cannot take just keeps the eager module
        return None


def _use_cpu_kernels(prep: _Prepared, plan: Plan, x: torch.Tensor) -> None:
    """Swap the plan's pieces for oneDNN-frozen ones where that works and still agrees."""
    eager = [stage.module for stage in plan.stages], plan.tail
    frozen = [_cpu_inference_module(m) for m in eager[0]], _cpu_inference_module(eager[1])
    for stage, module in zip(plan.stages, frozen[0]):
        stage.module = module or stage.module
    plan.tail = frozen[1] or plan.tail
    try:
        _verified(prep, plan, x)
    except NoPlan:
        for stage, module in zip(plan.stages, eager[0]):
            stage.module = module
        plan.tail = eager[1]
    else:
        plan.description += " (oneDNN-frozen)" if any(m is not None for m in frozen[0]) or frozen[1] else ""


def _verified(prep: _Prepared, plan: Plan, x: torch.Tensor) -> Plan:
    """Compare the plan with the full network on a few patches (fp32); a mismatch raises :class:`NoPlan`.

    This guards against ops the locality analysis misjudged; it is not what makes the method
    exact (the construction is), and tests check every patch against a brute-force loop.
    """
    gm = prep.gm
    if gm is None:  # a plan is only built from a traced network
        raise NoPlan(prep.error or "not traceable")
    generator = torch.Generator().manual_seed(0)
    baseline = torch.randn(x.shape, generator=generator).to(x.device)
    n = plan.patches
    probe = np.unique(np.array([0, n // 2, n - 1, len(plan.cols) - 1, n - len(plan.cols)]))
    probe = probe[(probe >= 0) & (probe < n)]
    runner = _Runner(plan, x, baseline, None, torch.contiguous_format)
    fast = runner.outputs(probe).float().reshape(len(probe), -1)
    expected = torch.cat([
        gm(occluded(x, baseline, plan.rows[i // len(plan.cols)], plan.cols[i % len(plan.cols)], plan.patch))
        .float().reshape(1, -1) for i in probe.tolist()])
    scale = float(expected.abs().max()) + 1.0
    error = float((fast - expected).abs().max())
    if not math.isfinite(error) or error > 1e-3 * scale:
        raise NoPlan(f"the incremental plan disagreed with the full network (max error {error:.3g}); using the batched path")
    return plan


def first_cut_every_patch_fills(gm: fx.GraphModule, x: torch.Tensor, patch, stride) -> fx.Node | None:
    """The first cut of the traced network at which every patch position changes every position
    of the feature map (its receptive fields have grown over the whole image). From there on,
    each patch needs the full layers: no exact method can crop them. None if no local cut is."""
    ShapeProp(gm).propagate(x)
    windows = G.windows_from(gm, _input_node(gm))
    spans = patch_spans((x.shape[-2], x.shape[-1]), pair(patch), pair(stride))
    for node in G.cut_points(gm):
        window, shape = windows.get(node), G.spatial_shape(node)
        if window is None or shape is None or len(shape) != 4:
            continue
        ranges = _changed_ranges(window, shape[-2:], spans)
        if all((lows == 0).all() and (highs == size).all() for (lows, highs), size in zip(ranges, shape[-2:])):
            return node
    return None


@dataclass
class OcclusionWork:
    """Multiply-adds for one patch, by how much of each layer is recomputed (for the bench)."""

    full: float  # a whole forward pass: what captum computes per patch
    largest_region: float  # every layer on the largest region any patch changes (the best fixed-size crops can do)
    changed_only: float  # every layer on exactly the outputs this patch changes, averaged over patches
    filled: float  # the layers from first_cut_every_patch_fills on


def occlusion_work(network: nn.Module, x: torch.Tensor, patch, stride) -> OcclusionWork | None:
    prep = _Prepared(network)
    if prep.gm is None:
        return None
    gm, x = prep.gm, x.float()
    with torch.inference_mode():
        node_filled = first_cut_every_patch_fills(gm, x, patch, stride)  # also propagates shapes
    macs = G.node_costs(gm, memory_traffic=False)
    windows = G.windows_from(gm, _input_node(gm))
    spans = patch_spans((x.shape[-2], x.shape[-1]), pair(patch), pair(stride))
    work = OcclusionWork(0.0, 0.0, 0.0, 0.0)
    filled = False
    for node in gm.graph.nodes:
        filled = filled or node is node_filled
        cost = macs.get(node, 0.0)
        window, shape = windows.get(node), G.spatial_shape(node)
        if window is None or shape is None or len(shape) != 4 or filled:
            fractions = (np.ones(1), np.ones(1))
        else:
            fractions = tuple((highs - lows) / size for (lows, highs), size in
                              zip(_changed_ranges(window, shape[-2:], spans), shape[-2:]))
        work.full += cost
        work.largest_region += cost * float(fractions[0].max() * fractions[1].max())
        work.changed_only += cost * float(np.outer(*fractions).mean())
        work.filled += cost if filled else 0.0
    return work


def unavoidable_work(network: nn.Module, x: torch.Tensor, patch, stride) -> Callable[[], None] | None:
    """For the bench: a call that runs, once per patch, only the layers from
    :func:`first_cut_every_patch_fills` on — batched, on the kernels :class:`Occlusion` uses on
    this device. Any exact occlusion must do at least this much. None if the network has no
    such cut (or cannot be traced)."""
    prep = _Prepared(network)
    if prep.gm is None:
        return None
    x = x.float()
    with torch.inference_mode():
        node = first_cut_every_patch_fills(prep.gm, x, patch, stride)
        if node is None:
            return None
        head = G.subgraph(prep.gm, _input_node(prep.gm), node)
        tail: nn.Module = G.subgraph(prep.gm, node, None)
        tail.to(memory_format=torch.channels_last)
        if x.device.type == "cpu":
            tail = _cpu_inference_module(tail) or tail
        filled = head(x)
    rows, cols = patch_spans((x.shape[-2], x.shape[-1]), pair(patch), pair(stride))
    patches = len(rows[0]) * len(cols[0])
    batch = default_batch(x.device)
    maps = filled.expand(batch, *filled.shape[1:]).contiguous(memory_format=torch.channels_last)

    def run() -> None:
        with torch.inference_mode(), autocast(x.device):
            for begin in range(0, patches, batch):
                tail(maps[:min(batch, patches - begin)])

    return run


def _input_node(gm: fx.GraphModule) -> fx.Node:
    return next(n for n in gm.graph.nodes if n.op == "placeholder")


# ---------------------------------------------------------------------------------------------
# The method


def default_batch(device: torch.device) -> int:
    """Patches per forward pass: all of them on a GPU, where launch overhead dominates; on a CPU
    16 is as fast as 64 for MobileNetV2 and needs less memory."""
    return 1024 if device.type == "cuda" else 16


class Occlusion(AttributionMethod):
    name = "occlusion"
    title = "Occlusion"

    def attribute(self, inputs: torch.Tensor, target: int | TopClass | None = None, *, patch=16, stride=8, baseline="zero",
                  blur_sigma: float | None = None, batch_size: int | None = None, fast: bool = True,
                  half: bool | None = None, progress: ProgressFn | None = None) -> Attribution:
        """``patch``/``stride`` in input pixels (int or (rows, cols)); ``baseline``: zero, blur, mean,
        a number or a tensor; ``fast=False`` forces the plain batched path; ``half`` (default: on
        CUDA) runs fp16 autocast; ``progress(fraction, message)`` returning False cancels."""
        if isinstance(target, TopClass):
            raise AttributionError(f"{self.title} runs several passes; give it a class, not the top class")
        patch, stride = pair(patch), pair(stride)
        device = model_device(self.model, inputs.device)
        inputs = inputs.to(device)
        timer = Timer(device)
        use_half = device.type == "cuda" if half is None else bool(half and device.type == "cuda")
        batch = batch_size or default_batch(device)
        maps, references, details = [], [], AttributionInsight()
        for item in range(inputs.shape[0]):
            x = inputs[item:item + 1].detach().float()
            base = make_baseline(x, baseline, patch, blur_sigma)
            rows = window_starts(x.shape[-2], patch[0], stride[0])
            cols = window_starts(x.shape[-1], patch[1], stride[1])

            def tick(done: int, total: int, message: str | None = None, item=item) -> None:
                report(progress, (item + done / total) / inputs.shape[0],
                       (message or f"occlusion: {done}/{total} patches") + (f" (image {item + 1})" if inputs.shape[0] > 1 else ""))

            diffs, reference, details = self._scores(x, base, target, rows, cols, patch, stride, batch, fast, use_half, tick)
            maps.append(accumulate(diffs.reshape(len(rows), len(cols)), rows, cols, patch, (x.shape[-2], x.shape[-1])))
            references.append(reference)
        stacked = np.stack(maps)
        raw = torch.from_numpy(stacked)[:, None].expand(-1, inputs.shape[1], -1, -1).clone()
        details = replace(details, patch=patch, stride=stride,
                          baseline=baseline if isinstance(baseline, str) else "custom", patches=len(rows) * len(cols))
        return Attribution(stacked, raw, self.name, target, timer.seconds(), output=references[0], insight=details)

    def _scores(self, x, base, target, rows, cols, patch, stride, batch, fast, use_half, tick):
        total = len(rows) * len(cols)
        device = x.device
        memory_format = torch.channels_last
        if fast and isinstance(self.model, nn.Module):
            with private_copy(self.model, "occlusion", _Prepared) as prep:
                if _plan_key(x, patch, stride) not in prep.plans:
                    tick(0, total, "occlusion: planning which parts of each layer a patch reaches (once per model and size)")
                try:
                    plan = _plan_for(prep, x, patch, stride)
                except NoPlan as why:
                    reason = str(why)
                else:
                    with torch.inference_mode(), autocast(device, use_half):
                        runner = _Runner(plan, x, base, target, memory_format)
                        reference_score = select_scores(runner.reference_output, target).float()[0]
                        pieces = []
                        tick(0, total)
                        for begin in range(0, total, batch):
                            indices = np.arange(begin, min(total, begin + batch))
                            pieces.append(reference_score - runner.scores(indices))  # stays on the device
                            tick(int(indices[-1]) + 1, total)
                        out = torch.cat(pieces).double().cpu().numpy()
                        reference = float(reference_score)
                    return out, reference, AttributionInsight(path="incremental", plan=plan.description,
                                                              estimated_work_saving=round(plan.estimated_speedup, 2))
        else:
            reason = "fast path off" if not fast else "the model is a function, not a module"
        return self._batched(x, base, target, rows, cols, patch, batch, use_half, tick) + (AttributionInsight(path="batched", why_not_incremental=reason),)

    def _batched(self, x, base, target, rows, cols, patch, batch, use_half, tick):
        total = len(rows) * len(cols)
        out = np.zeros(total, dtype=np.float64)
        model = self.model
        memory_format = torch.channels_last if isinstance(model, nn.Module) else torch.contiguous_format
        with torch.inference_mode(), autocast(x.device, use_half):
            reference = float(select_scores(model(x.contiguous(memory_format=memory_format)), target).float()[0])
            tick(0, total)
            height, width = x.shape[-2:]
            for begin in range(0, total, batch):
                indices = np.arange(begin, min(total, begin + batch))
                top = torch.as_tensor(np.array(rows)[indices // len(cols)], device=x.device)
                left = torch.as_tensor(np.array(cols)[indices % len(cols)], device=x.device)
                dy = torch.arange(height, device=x.device)[None, :] - top[:, None]
                dx = torch.arange(width, device=x.device)[None, :] - left[:, None]
                covered = ((dy >= 0) & (dy < patch[0]))[:, :, None] & ((dx >= 0) & (dx < patch[1]))[:, None, :]
                stack = torch.where(covered[:, None], base, x)  # every patch's occluded copy at once
                scores = select_scores(model(stack.contiguous(memory_format=memory_format)), target).float()
                out[begin:begin + len(indices)] = reference - scores.double().cpu().numpy()
                tick(begin + len(indices), total)
        return out, reference
