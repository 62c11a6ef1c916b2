"""Every registered model fills in its spec the same way (cf. torchvision's schema test of weight metadata)."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

from cvdemo import registry
from cvdemo.registry import ModelSpec, Task
from cvdemo.weights import TorchvisionWeights, WeightSource

SPECS = registry.all_models()
PLACEHOLDER_CATEGORIES = {"__background__", "N/A"}  # COCO's gaps and background in torchvision's lists
LABELLED_TASKS = {Task.DETECTION, Task.SEMANTIC_SEGMENTATION, Task.INSTANCE_SEGMENTATION, Task.CLASSIFICATION, Task.FACE_DETECTION}
# Every metadata key a model may carry; a new key goes here on purpose, and a misspelt one fails.
METADATA_KEYS = {
    "accuracy", "anchors_per_cell", "architecture", "atrous_rates", "bench", "box_map", "coco_box_map", "dataset",
    "descriptor_size", "gflops", "grids", "landmarks", "mask_map", "miou", "normalisation", "nms_threshold", "nz",
    "output_size", "output_stride", "pack", "paper", "parameters", "source", "strides", "threshold", "weights_enum",
}


def test_every_task_has_a_model():
    assert {spec.task for spec in SPECS} == set(Task)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_spec_schema(spec: ModelSpec):
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", spec.name), spec.name
    assert isinstance(spec.task, Task) and callable(spec.builder)
    assert all(isinstance(text, str) and text.strip() for text in (spec.title, spec.description, spec.licence, spec.family))
    assert spec.weights and all(isinstance(source, WeightSource) for source in spec.weights)
    assert isinstance(spec.offline_rank, int) and spec.offline_rank >= 0
    if spec.input_size is not None:
        height, width = spec.input_size
        assert isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0
    names = [name for name in spec.categories if name not in PLACEHOLDER_CATEGORIES]
    assert all(isinstance(name, str) and name for name in names) and len(set(names)) == len(names)
    assert bool(names) == (spec.task in LABELLED_TASKS), spec.categories[:3]
    assert set(spec.metadata) <= METADATA_KEYS, set(spec.metadata) - METADATA_KEYS
    assert spec.framework in ("torch", "tfjs", "darknet") and spec.expects in ("image", "face crop")
    assert spec.head_view in ("", "yolo", "one-stage") and (not spec.head_view or spec.task is Task.DETECTION)
    if spec.torchvision_builder:
        assert spec.torchvision_builder in torchvision.models.list_models(), spec.torchvision_builder


@pytest.mark.parametrize("spec", [s for s in SPECS if "weights_enum" in s.metadata], ids=lambda spec: spec.name)
def test_zoo_models_take_their_categories_from_their_weights_enum(spec: ModelSpec):
    (source,) = spec.weights
    assert isinstance(source, TorchvisionWeights)
    meta = source.weights.meta
    assert str(source.weights) == spec.metadata["weights_enum"]
    assert list(spec.categories) == meta["categories"]


def test_every_task_has_its_protocol():
    assert set(registry.TASK_PROTOCOLS) == set(Task)


READY = registry.ready_models()


@pytest.mark.parametrize("spec", READY, ids=[spec.name for spec in READY])
def test_a_built_model_offers_its_tasks_interface(spec: ModelSpec):
    wrapper = spec.build("cpu")
    assert isinstance(wrapper, registry.TASK_PROTOCOLS[spec.task]), type(wrapper)
    assert isinstance(wrapper.network, torch.nn.Module) and not wrapper.network.training
    assert wrapper.device == torch.device("cpu")
    if spec.task in LABELLED_TASKS - {Task.FACE_DETECTION}:
        assert tuple(wrapper.categories) == spec.categories
