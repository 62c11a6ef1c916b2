"""Every registered model fills in its spec the same way (cf. torchvision's schema test of weight metadata)."""

from __future__ import annotations

import inspect
import re
import urllib.parse
from pathlib import PurePosixPath

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from cvdemo import registry
from cvdemo.registry import ModelSpec, Task
from cvdemo.weights import Status, TorchvisionWeights, WeightSource

SPECS = registry.all_models()
PLACEHOLDER_CATEGORIES = {"__background__", "N/A"}  # COCO's gaps and background in torchvision's lists
LABELLED_TASKS = {Task.DETECTION, Task.SEMANTIC_SEGMENTATION, Task.INSTANCE_SEGMENTATION, Task.CLASSIFICATION, Task.FACE_DETECTION}
# Every metadata key a model may carry; a new key goes here on purpose, and a misspelt one fails.
# Zoo facts (accuracy, mAP, parameters, GFLOPs, the enum's name) live in ``zoo_weights.meta`` instead.
METADATA_KEYS = {
    "anchors_per_cell", "architecture", "atrous_rates", "bench", "dataset", "descriptor_size", "grids", "landmarks",
    "nms_threshold", "normalisation", "nz", "output_size", "output_stride", "pack", "paper", "source", "strides",
    "threshold",
}
ZOO = [spec for spec in SPECS if spec.zoo_weights is not None]


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
    assert spec.zoo_weights is None or isinstance(spec.zoo_weights, WeightsEnum), type(spec.zoo_weights)
    if any(isinstance(source, TorchvisionWeights) for source in spec.weights):
        assert spec.zoo_weights is not None, "a model loading torchvision weights holds their enum member"


def test_the_torchvision_zoo_models_are_registered():
    assert {spec.task for spec in ZOO} == {Task.CLASSIFICATION, Task.DETECTION, Task.SEMANTIC_SEGMENTATION,
                                           Task.INSTANCE_SEGMENTATION}


def _head_classes(network: nn.Module) -> int:
    """How many classes the network's classifying layer scores."""
    modules = dict(network.named_modules())
    if "roi_heads.box_predictor.cls_score" in modules:  # Faster / Mask R-CNN: its box head's class scores
        return modules["roi_heads.box_predictor.cls_score"].out_features
    if "head.classification_head" in modules:  # SSD (one column per class), RetinaNet, FCOS
        head = modules["head.classification_head"]
        return head.num_columns if hasattr(head, "num_columns") else head.num_classes
    last = [m for m in network.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]  # a classifier, a segmentation head
    return last.out_features if isinstance(last, nn.Linear) else last.out_channels


@pytest.mark.parametrize("spec", ZOO, ids=[spec.name for spec in ZOO])
def test_zoo_models_show_their_weights_enum_members_own_meta(spec: ModelSpec):
    """As torchvision's ``test_schema_meta_validation``, for what the app shows of each member."""
    member = spec.zoo_weights
    meta = member.meta
    # torchvision's required meta, typed: what the spec reads from
    assert isinstance(meta["num_params"], int) and isinstance(meta["_ops"], float) and isinstance(meta["_file_size"], float)
    assert isinstance(meta["categories"], list) and isinstance(meta["_metrics"], dict) and meta["_metrics"]
    assert isinstance(meta["recipe"], str) and isinstance(meta["min_size"], tuple)
    # the spec's weights are the member's file, named with a prefix of its sha256
    (source,) = spec.weights
    assert isinstance(source, TorchvisionWeights) and source.weights is member
    filename = PurePosixPath(urllib.parse.urlparse(member.url).path).name
    assert source.filename == filename and re.search(r"-[0-9a-f]{6,}\.pth$", filename), filename
    assert source.status().status in (Status.READY, Status.DOWNLOADABLE)
    # the architecture is the builder whose weights enum the member belongs to
    assert torchvision.models.get_model_weights(spec.torchvision_builder) is type(member)
    if spec.input_size is not None:
        assert all(side >= least for side, least in zip(spec.input_size, meta["min_size"]))
    # categories: the member's, as many as the architecture's head scores
    assert list(spec.categories) == meta["categories"]
    builder = torchvision.models.get_model_builder(spec.torchvision_builder)
    weightless = {"weights": None}
    if "weights_backbone" in inspect.signature(builder).parameters:
        weightless["weights_backbone"] = None  # never download a backbone for a schema check
    with torch.device("meta"):
        assert _head_classes(builder(**weightless)) == len(spec.categories)
    # the description quotes the member's size and scores
    assert f"{meta['num_params'] / 1e6:.1f} M parameters" in spec.description
    scores = [value for metrics in meta["_metrics"].values() for name, value in metrics.items()
              if name in ("acc@1", "box_map", "mask_map", "miou")]
    assert scores and all(f"{value:.1f}" in spec.description for value in scores), spec.description


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
