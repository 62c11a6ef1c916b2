"""The one list of every model the app offers.

Each module in :mod:`cvdemo.models` contributes a ``SPECS`` list of :class:`ModelSpec`; pages,
the command line and the benchmark ask this registry and never build a model by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

import torch

from cvdemo import tasks
from cvdemo.device import pick_device
from cvdemo.weights import Status, WeightSource, WeightsStatus

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum


class Task(str, Enum):
    DETECTION = "detection"
    SEMANTIC_SEGMENTATION = "semantic segmentation"
    INSTANCE_SEGMENTATION = "instance segmentation"
    CLASSIFICATION = "classification"
    FACE_DETECTION = "face detection"
    FACE_EMBEDDING = "face embedding"
    GENERATOR = "generator"


# What a built model of each task offers (cvdemo.tasks); the schema test checks every ready model.
TASK_PROTOCOLS: dict[Task, type] = {
    Task.DETECTION: tasks.Detector,
    Task.SEMANTIC_SEGMENTATION: tasks.SemanticSegmenter,
    Task.INSTANCE_SEGMENTATION: tasks.InstanceSegmenter,
    Task.CLASSIFICATION: tasks.ImageClassifier,
    Task.FACE_DETECTION: tasks.FaceDetector,
    Task.FACE_EMBEDDING: tasks.FaceEmbedder,
    Task.GENERATOR: tasks.ImageGenerator,
}


@dataclass(frozen=True)
class ModelSpec:
    """What the app knows about a model before loading it.

    ``builder(device)`` returns the task wrapper (a ``Detector``, ``Segmenter``, … from
    :mod:`cvdemo.tasks`) with weights loaded, in eval mode, on ``device``.
    """

    name: str
    title: str
    task: Task
    builder: Callable[[torch.device], Any]
    weights: tuple[WeightSource, ...]
    categories: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = None  # (height, width) the network sees
    licence: str = ""
    description: str = ""
    family: str = ""  # e.g. "one-stage", "two-stage", "semantic", "ImageNet classifier"
    offline_rank: int = 100  # lower is preferred as the default among ready models
    framework: str = "torch"  # what the weights were made for: "torch", "tfjs" (converted), "darknet" (read)
    torchvision_builder: str = ""  # torchvision.models.get_model's name for the architecture, if it has one
    expects: str = "image"  # or "face crop": trained on faces that fill the input, so pages crop one first
    head_view: str = ""  # the detection page's view of its raw head: "yolo" (S×S×B·(5+C)), "one-stage" or none
    live_rank: int | None = None  # lower is preferred for live video (from the live benchmark); None: not ranked
    # A torchvision zoo model's weight enum member: its meta gives the categories and the facts shown
    zoo_weights: WeightsEnum | None = field(default=None, hash=False, compare=False)
    metadata: dict = field(default_factory=dict, hash=False, compare=False)  # facts shown, never branched on

    def status(self) -> WeightsStatus:
        statuses = [source.status() for source in self.weights]
        worst = WeightsStatus.worst(statuses)
        sizes = [s.size_bytes for s in statuses if s.size_bytes]
        # the size on disk of a model is that of all its files (a graph and its weight shards)
        return replace(worst, size_bytes=sum(sizes) if sizes else None)

    @property
    def ready(self) -> bool:
        return self.status().status is Status.READY

    def build(self, device: torch.device | str | None = None) -> Any:
        if not isinstance(device, torch.device):
            device = pick_device(device)
        for source in self.weights:
            source.path()  # raises WeightsUnavailable with the fixing command
        return self.builder(device)


@lru_cache(maxsize=1)
def _all_specs() -> dict[str, ModelSpec]:
    import cvdemo.models as models_package

    specs: dict[str, ModelSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(models_package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cvdemo.models.{module_info.name}")
        for spec in getattr(module, "SPECS", ()):
            if spec.name in specs:
                raise ValueError(f"model name {spec.name!r} registered twice")
            specs[spec.name] = spec
    return specs


def all_models(task: Task | None = None) -> list[ModelSpec]:
    specs = list(_all_specs().values())
    return [s for s in specs if task is None or s.task is task]


def get(name: str) -> ModelSpec:
    specs = _all_specs()
    if name not in specs:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def is_ready(name: str) -> bool:
    """Whether ``name`` is a known model whose weights are on this machine."""
    specs = _all_specs()
    return name in specs and specs[name].ready


def ready_models(task: Task | None = None) -> list[ModelSpec]:
    return sorted((s for s in all_models(task) if s.ready), key=lambda s: (s.offline_rank, s.name))


def default_model(task: Task) -> ModelSpec:
    """The preferred model of ``task`` that is ready on this machine."""
    ready = ready_models(task)
    if not ready:
        raise LookupError(f"no {task.value} model is ready; run `python -m cvdemo weights` to see what to fetch")
    return ready[0]


def load_model(name: str, device: torch.device | str | None = None) -> Any:
    return get(name).build(device)


def default_live_model(task: Task) -> ModelSpec:
    """The preferred ready model of ``task`` for live video: the lowest ``live_rank`` (set from the
    live benchmark: the fastest that holds the frame-rate target), else the default."""
    ranked = [(s.live_rank, s) for s in ready_models(task) if s.live_rank is not None]
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else default_model(task)


def status_rows() -> list[dict]:
    """Every model with its task, weights status, size, source, licence and the command that makes it ready."""
    rows = []
    for spec in all_models():
        state = spec.status()
        rows.append({
            "name": spec.name,
            "title": spec.title,
            "task": spec.task.value,
            "status": state.status.value,
            "size_mb": round(state.size_bytes / 1e6, 1) if state.size_bytes else None,
            "source": ", ".join(sorted({s.origin for s in spec.weights})),
            "where": state.where,
            "action": state.action,
            "licence": spec.licence,
        })
    return rows
