"""One forward pass for many images: the split every served model follows.

A model that can be batched offers three steps:

``prepare(image) -> Prepared``
    per image, on the caller's side: resize, letterbox, normalise. ``inputs`` is the network
    input with a batch axis of 1; ``context`` is whatever ``finish`` needs (the letterbox, the
    original size).
``forward(batch) -> tuple[Tensor, ...]``
    one pass of the network over ``(N, ...)`` inputs; every output has the batch on axis 0 and
    is float32. It calls ``network``, a plain callable on a batch tensor, so a faster back end
    can replace the network without touching the rest.
``finish(outputs, context, **options)``
    per image again: decode, NMS, rescale to the original pixels. ``outputs`` are that image's
    slices, without the batch axis.

Only ``forward`` has to run where the network lives; a server batches the ``forward`` calls of
many callers (:mod:`cvdemo.serving`) and the two per-image steps stay with the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import torch

Outputs = tuple[torch.Tensor, ...]


@dataclass
class Prepared:
    inputs: torch.Tensor  # (1, ...) network input
    context: Any = None


@runtime_checkable
class Batchable(Protocol):
    def prepare(self, image) -> Prepared: ...

    def forward(self, batch: torch.Tensor) -> Outputs: ...

    # finish(outputs, context, **options): each model names its own options (a score threshold,
    # an NMS IoU), which a method here cannot say without demanding that every model take any keyword.
    @property
    def finish(self) -> Callable[..., Any]: ...


def as_outputs(result) -> Outputs:
    """A network's result (one tensor, or a tuple/list of them) as a tuple of float32 tensors."""
    tensors = (result,) if isinstance(result, torch.Tensor) else tuple(result)
    return tuple(t.float() for t in tensors)


def split_outputs(outputs: Outputs, sizes: Sequence[int]) -> list[Outputs]:
    """Cut batch-major outputs into consecutive parts of ``sizes`` items each (a part keeps its batch axis)."""
    parts: list[list[torch.Tensor]] = [[] for _ in sizes]
    for tensor in outputs:
        if tensor.shape[0] != sum(sizes):
            raise ValueError(f"an output has batch {tensor.shape[0]}, expected {sum(sizes)}")
        for index, piece in enumerate(torch.split(tensor, list(sizes))):
            parts[index].append(piece)
    return [tuple(part) for part in parts]


def image_outputs(outputs: Outputs, index: int) -> Outputs:
    """Image ``index``'s slice of every output, without the batch axis."""
    return tuple(tensor[index] for tensor in outputs)


def run_batch(model: Batchable, images: Sequence, **options) -> list:
    """Prepare each image, one ``forward`` over all of them, finish each: ``[finish(...), ...]``."""
    if not images:
        return []
    prepared = [model.prepare(image) for image in images]
    outputs = model.forward(torch.cat([p.inputs for p in prepared]))
    return [model.finish(image_outputs(outputs, i), p.context, **options) for i, p in enumerate(prepared)]


def run_one(model: Batchable, image, **options):
    """The single-image call every ``detect``/``segment``/``classify`` is: a batch of one."""
    prepared = model.prepare(image)
    return model.finish(image_outputs(model.forward(prepared.inputs), 0), prepared.context, **options)
