"""Which layer a layer method (Grad-CAM and its kin, conductance) reads, named so a class can pick one.

A probe pass records every module's output in forward order; a layer is offered when it outputs a
feature map ``(N, C, h, w)`` with more than one cell. Each choice reads "stride 32, 7×7 · ReLU6
(layer 140 of 152)", and for a detection head "stride 32 head, 13×13 · …", never a graph id.

Defaults:

* a classifier: the last layer that still keeps a spatial map (Grad-CAM's usual choice: after the
  last activation, rather than a convolution's raw output);
* a detection: the feature map that feeds the prediction convolution of the head level the box
  came from (the level's grid size is known from the box's cell). A layer of another level has no
  path to that cell's score through this level, and its map is zero.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from cvdemo.explain.core import AttributionError, model_device, private_copy


@dataclass(frozen=True)
class LayerChoice:
    name: str  # the module's path, what the methods take
    kind: str  # the module's class, e.g. "LeakyReLU"
    channels: int
    grid: tuple[int, int]  # (h, w) of its output
    stride: float  # network-input pixels per cell
    position: int  # 1-based place in forward order among the offered layers
    of: int
    head: bool = False  # the input of a detection head level's prediction convolution

    @property
    def label(self) -> str:
        stride = f"{self.stride:g}"
        where = f"stride {stride} head" if self.head else f"stride {stride}"
        return f"{where}, {self.grid[0]}×{self.grid[1]} · {self.kind}, {self.channels} channels (layer {self.position} of {self.of})"


_PROBED: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, list[tuple[str, str, tuple[int, ...]]]]]" = weakref.WeakKeyDictionary()


def _spatial_outputs(network: nn.Module, example: torch.Tensor) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, class, output shape) of every module whose output is a feature map, in forward order.

    The answer depends only on the structure and the input size, so it is remembered per network
    and size: live video asks every frame.
    """
    known = _PROBED.setdefault(network, {})
    size = tuple(example.shape[1:])
    if size in known:
        return known[size]
    fired: list[tuple[str, str, tuple[int, ...]]] = []
    tensors: list[torch.Tensor] = []  # each entry's output, alive until the probe ends (identity checks)
    handles = []
    with private_copy(network, "layer-probe") as probe:  # hooks never go on a shared network
        for name, module in probe.named_modules():
            if not name:
                continue

            def hook(module, _args, out, name=name):
                if not (isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[-1] * out.shape[-2] > 1):
                    return
                entry = (name, type(module).__name__, tuple(out.shape))
                # A container returns its last child's tensor, and an in-place activation its
                # input's: the entry is replaced, so the outermost name stands for the tensor
                # (MobileNetV2's "features" for "features.18.2") and the last op names its kind.
                if tensors and tensors[-1] is out:
                    leaf = next(module.children(), None) is None
                    fired[-1] = (name, entry[1] if leaf else fired[-1][1], entry[2])
                else:
                    fired.append(entry)
                    tensors.append(out)

            handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                probe(example[:1].to(model_device(probe, example.device)))
        finally:
            for handle in handles:
                handle.remove()
    known[size] = fired
    return fired


def _is_convolution(kind: str) -> bool:
    return "Conv" in kind and "Transpose" not in kind


def head_inputs(outputs: list[tuple[str, str, tuple[int, ...]]], grid: tuple[int, int],
                used: set[str] | None = None) -> str | None:
    """The layer that feeds the last convolution at ``grid`` (a head level's prediction layer).

    ``used``: the layers the explained score depends on (a head has branches for classes and for
    box sides; only the score's branch counts). None: every layer.
    """
    at_grid = [(index, entry) for index, entry in enumerate(outputs)
               if tuple(entry[2][-2:]) == tuple(grid) and (used is None or entry[0] in used)]
    convolutions = [index for index, entry in at_grid if _is_convolution(entry[1])]
    if not convolutions:
        return None
    before = [entry for index, entry in at_grid if index < convolutions[-1]]
    return before[-1][0] if before else None


_USED: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, set[str]]]" = weakref.WeakKeyDictionary()


def _layers_the_score_uses(network: nn.Module, example: torch.Tensor, grid: tuple[int, int]) -> set[str]:
    """Names of the modules at ``grid`` whose output the score's gradient reaches (one backward pass)."""
    known = _USED.setdefault(network, {})
    key = (tuple(example.shape[1:]), tuple(grid))
    if key in known:
        return known[key]
    captured: dict[str, torch.Tensor] = {}
    handles = []
    with private_copy(network, "layer-probe") as probe:
        for name, module in probe.named_modules():
            if name:
                handles.append(module.register_forward_hook(
                    lambda _m, _a, out, name=name: captured.__setitem__(name, out)
                    if isinstance(out, torch.Tensor) and out.ndim == 4 and tuple(out.shape[-2:]) == tuple(grid) else None))
        try:
            with torch.enable_grad():
                x = example[:1].to(model_device(probe, example.device)).clone().requires_grad_(True)
                score = probe(x)
                names = list(captured)
                gradients = torch.autograd.grad(score.float().sum(), [captured[n] for n in names], allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()
    known[key] = {n for n, g in zip(names, gradients) if g is not None and bool(g.abs().sum() > 0)}
    return known[key]


def layer_choices(network: nn.Module, example: torch.Tensor, head_grids: tuple[tuple[int, int], ...] = ()
                  ) -> list[LayerChoice]:
    """Every offered layer, in forward order, labelled; ``head_grids``: a detector's level grids."""
    outputs = _spatial_outputs(network, example)
    own = getattr(network, "head_grid", None)  # the explained cell's level: only its score's branch counts
    heads = {head_inputs(outputs, grid, _layers_the_score_uses(network, example, grid) if grid == own else None)
             for grid in head_grids} - {None}
    height = int(example.shape[-2])
    return [LayerChoice(name, kind, int(shape[1]), (int(shape[-2]), int(shape[-1])), round(height / shape[-2], 2),
                        position, len(outputs), name in heads)
            for position, (name, kind, shape) in enumerate(outputs, start=1)]


def default_layer(network: nn.Module, example: torch.Tensor, grid: tuple[int, int] | None = None) -> str:
    """The layer a layer method reads unless told otherwise (see the module's docstring);
    ``grid`` defaults to the network's ``head_grid`` attribute (set on detection score modules)."""
    outputs = _spatial_outputs(network, example)
    if not outputs:
        raise AttributionError("the network has no layer with a spatial feature map")
    grid = grid or getattr(network, "head_grid", None)  # a detection's score module knows its level
    if grid is not None:
        chosen = head_inputs(outputs, grid, _layers_the_score_uses(network, example, grid))
        if chosen is None:
            raise AttributionError(f"no layer of the network has the head level's {grid[0]}×{grid[1]} grid")
        return chosen
    return outputs[-1][0]


def ordered_choices(network: nn.Module, example: torch.Tensor, grid: tuple[int, int] | None = None,
                    head_grids: tuple[tuple[int, int], ...] = ()) -> list[LayerChoice]:
    """The picker's list: the default first, then the others from the output back to the input."""
    choices = layer_choices(network, example, head_grids)
    default = default_layer(network, example, grid)
    first = [c for c in choices if c.name == default]
    heads = [c for c in reversed(choices) if c.head and c.name != default]
    rest = [c for c in reversed(choices) if not c.head and c.name != default]
    return first + heads + rest


def next_layer(choices: list[LayerChoice], current: str) -> LayerChoice | None:
    """The choice after ``current`` in the picker (what to try when a map comes out flat)."""
    names = [c.name for c in choices]
    if current not in names:
        return choices[0] if choices else None
    index = names.index(current) + 1
    return choices[index] if index < len(choices) else None


def resolve(network: nn.Module, layer: str) -> nn.Module:
    try:
        return network.get_submodule(layer)
    except AttributeError:
        raise AttributionError(f"the network has no layer {layer!r}; pick one from the layer list") from None
