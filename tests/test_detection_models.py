"""The torchvision zoo detectors' wrapper, on the real architectures with random weights.

Their COCO weights need internet, so these tests check the wiring that does not depend on
trained values: the network is built exactly as the trained builder builds it (same module
types and state-dict keys), and "candidates before NMS, then our NMS" gives the boxes
torchvision's own post-processing would have given.
"""

from __future__ import annotations

import functools
import numpy as np
import pytest
import torch
import torchvision

from cvdemo import registry
from cvdemo.models.torchvision_detection import CANDIDATE_FLOOR, CONFIGS, TorchvisionDetector, build_network, freeze_batch_norm
from cvdemo.registry import Task
from cvdemo.weights import Status

CONFIG = {c.name: c for c in CONFIGS}


def test_zoo_detectors_are_registered_with_family_and_real_enums():
    specs = {s.name: s for s in registry.all_models(Task.DETECTION)}
    for config in CONFIGS:
        spec = specs[config.name]
        assert spec.family in ("one-stage", "two-stage")
        assert len(spec.categories) == 91 and spec.categories[1] == "person"
        assert spec.weights[0].weights.url.startswith("https://download.pytorch.org/models/")
        if spec.status().status is not Status.READY:
            assert "weights fetch" in spec.status().action
    assert {specs[n].family for n in ("ssdlite320", "retinanet", "fcos")} == {"one-stage"}
    assert {specs[n].family for n in ("fasterrcnn-mobilenet-320", "fasterrcnn-mobilenet", "fasterrcnn-resnet50")} == {"two-stage"}


@pytest.mark.parametrize("name", ["fasterrcnn-mobilenet-320", "fcos"])
def test_network_matches_the_trained_builders_structure(name, monkeypatch):
    """Build the "trained" structure through torchvision with a faked backbone file; keys must match ours."""
    config = CONFIG[name]
    backbone_enum = {"fasterrcnn-mobilenet-320": torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1,
                     "fcos": torchvision.models.ResNet50_Weights.IMAGENET1K_V1}[name]

    def fake_backbone_state(self, *args, **kwargs):
        backbone = {"fasterrcnn-mobilenet-320": torchvision.models.mobilenet_v3_large,
                    "fcos": torchvision.models.resnet50}[name](weights=None)
        return freeze_batch_norm(backbone).state_dict() if name == "fcos" else backbone.state_dict()

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", fake_backbone_state)
    trained_like = getattr(torchvision.models.detection, config.builder)(weights=None, weights_backbone=backbone_enum)
    ours = build_network(config)
    assert set(ours.state_dict()) == set(trained_like.state_dict())
    ours_types = {n: type(m).__name__ for n, m in ours.named_modules()}
    trained_types = {n: type(m).__name__ for n, m in trained_like.named_modules()}
    assert ours_types == trained_types


def _randomised(config, seed: int):
    """Our build and torchvision's default build, sharing random weights that give varied, confident boxes.

    Straight from initialisation every location looks alike (ties everywhere), so batch-norm
    statistics are first collected on three real photos, and the classifier layer is spread so
    that scores reach well above the candidate floor.
    """
    from skimage import data

    torch.manual_seed(seed)
    reference = getattr(torchvision.models.detection, config.builder)(weights=None, weights_backbone=None)
    if config.head != "ssd":  # small inputs keep the test fast; the equivalence does not depend on size
        reference.transform.min_size = (160,)
        reference.transform.max_size = 200
    reference.eval()
    norms = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.train()
        norm.momentum = None  # a plain average over the calibration batch
        norm.reset_running_stats()
    photos = [data.astronaut()[::2, ::2], data.coffee()[::2, ::2], data.chelsea()]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # backbone (and SSD's head) only: the detector's post-processing is not needed for statistics
        batch, _ = reference.transform([torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1).float() / 255 for p in photos])
        features = reference.backbone(batch.tensors)
        if config.head == "ssd":
            reference.head(list(features.values()))
        for norm in norms:
            norm.eval()
        if config.head == "rcnn":
            layer = reference.roi_heads.box_predictor.cls_score
            layer.weight.mul_(10.0)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * 2.0)
        elif config.head in ("fcos", "retinanet"):
            layer = reference.head.classification_head.cls_logits
            layer.weight.mul_(3.0)
            layer.bias.add_(1.0)
    if config.frozen_bn:
        freeze_batch_norm(reference)
    ours = build_network(config)
    ours.load_state_dict(reference.state_dict())
    ours.transform.min_size, ours.transform.max_size = reference.transform.min_size, reference.transform.max_size
    return reference, ours


def _ranked(boxes, scores, labels):
    order = np.lexsort((boxes[:, 1], boxes[:, 0], -scores))  # score, then position for exact ties
    return boxes[order], scores[order], labels[order]


@functools.lru_cache(maxsize=None)
def _pair(name: str):
    """(torchvision's network, our detector) with shared random weights, built once per module."""
    config = CONFIG[name]
    reference, ours = _randomised(config, seed=3)
    return reference, TorchvisionDetector(ours, config, tuple(registry.get(name).categories), torch.device("cpu"))


@pytest.mark.parametrize("name", ["ssdlite320", "fasterrcnn-mobilenet-320", "retinanet", "fcos"])
def test_candidates_then_nms_equal_torchvision_output(name, astronaut):
    config = CONFIG[name]
    reference, detector = _pair(name)
    image = astronaut[::2, ::2].copy()  # 256×256
    floor = max(CANDIDATE_FLOOR, 0.2) if config.head == "fcos" else CANDIDATE_FLOOR
    with torch.inference_mode():
        expected = reference([torch.from_numpy(image).permute(2, 0, 1).float() / 255])[0]
    keep = expected["scores"] >= floor
    detections = detector.detect(image, score_threshold=floor)
    assert len(detections) > 0, "the randomised network should produce confident boxes"
    assert len(detections) == int(keep.sum())
    got = _ranked(detections.boxes, detections.scores, detections.labels)
    want = _ranked(*(expected[k][keep].numpy() for k in ("boxes", "scores", "labels")))
    assert len(np.unique(want[1])) > 0.9 * len(want[1]), "scores should be distinct for a meaningful comparison"
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=0.05)
    np.testing.assert_array_equal(got[2], want[2])
    candidates = detections.insight.candidates
    assert len(candidates) > len(detections), "NMS should have removed some candidates"
    assert detections.insight.nms_threshold == config.nms_threshold
    if config.head == "rcnn":
        proposals = detections.insight.proposals
        assert proposals.shape[1] == 4 and len(proposals) > 100
        assert proposals[:, 2].max() <= image.shape[1] + 1 and proposals[:, 3].max() <= image.shape[0] + 1
        assert detections.insight.levels == ()  # two-stage: no dense head to show
        return
    levels = detections.insight.levels
    assert len(levels) == {"ssd": 6, "retinanet": 5, "fcos": 5}[config.head]
    for level in levels:
        assert level.class_scores.shape[0] == 91
        assert 0.0 <= level.class_scores.min() and level.class_scores.max() <= 1.0
    # the finest level's grid covers the whole image
    finest = levels[0]
    rows, cols = finest.class_scores.shape[1:]
    sx, sy = finest.scale_xy
    assert cols * finest.stride / sx == pytest.approx(image.shape[1], rel=0.15)
    assert rows * finest.stride / sy == pytest.approx(image.shape[0], rel=0.15)
    # the maps hold the very scores the candidates were ranked by (the best one at least)
    best_on_maps = max(level.class_scores[1:].max() for level in levels)
    assert candidates.scores.max() == pytest.approx(best_on_maps, rel=1e-4)


def test_hooks_record_nothing_outside_detect():
    _, detector = _pair("ssdlite320")
    with torch.inference_mode():
        detector.network([torch.zeros(3, 64, 64)])  # e.g. explainability code calling the network directly
    assert getattr(detector._local, "capture", None) is None
