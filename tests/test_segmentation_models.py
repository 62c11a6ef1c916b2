"""torchvision segmentation models: registration, loading from the hub cache, wrapper outputs.

The zoo files need internet, so the loading code is exercised on state dicts of the very same
architectures saved under the zoo's file names in a temporary cache: that checks the builder
(weights=None, aux_loss matching the file) and the wrappers' pre/post-processing, not accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

import cvdemo.weights as weights_module
from cvdemo import registry
from cvdemo.models.torchvision_segmentation import TorchvisionMaskRCNN, TorchvisionSemanticSegmenter
from cvdemo.registry import Task
from cvdemo.tasks import Detector, InstanceSegmenter, SemanticSegmenter
from cvdemo.weights import Status, TorchvisionWeights

SEMANTIC = ("deeplabv3-resnet50", "deeplabv3-mobilenet", "fcn-resnet50", "lraspp-mobilenet")


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_module, "CHECKPOINTS_DIR", tmp_path)
    # the files these tests put there are random initialisations, not the zoo's: only the hash
    # check is skipped (tests/test_weights_integrity.py covers it)
    monkeypatch.setattr(TorchvisionWeights, "integrity_problem", lambda self, path: None)
    return tmp_path


def test_registered_with_real_enums_and_voc_classes():
    for name in SEMANTIC:
        spec = registry.get(name)
        assert spec.task is Task.SEMANTIC_SEGMENTATION and spec.family == "semantic"
        (source,) = spec.weights
        assert isinstance(source, TorchvisionWeights)
        assert source.weights.meta["categories"][15] == "person" and len(spec.categories) == 21
        assert spec.status().status in (Status.READY, Status.DOWNLOADABLE)
        assert "weights fetch" in (spec.status().action or "weights fetch")
    mask_rcnn = registry.get("maskrcnn-resnet50")
    assert mask_rcnn.task is Task.INSTANCE_SEGMENTATION and mask_rcnn.family == "two-stage"
    assert mask_rcnn.weights[0].enum_name == "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1"
    assert "person" in mask_rcnn.categories and len(mask_rcnn.categories) == 91


def test_lraspp_loads_from_the_cache_and_segments_at_photo_size(hub_cache):
    spec = registry.get("lraspp-mobilenet")
    assert spec.status().status is Status.DOWNLOADABLE
    torch.manual_seed(0)
    network = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)
    torch.save(network.state_dict(), spec.weights[0].cache_path)
    assert spec.status().status is Status.READY
    model = spec.build("cpu")
    assert isinstance(model, SemanticSegmenter)
    model.short_side = 128  # a small network input keeps the test fast; the real default is 520
    image = np.random.default_rng(0).integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    mask = model.segment(image)
    assert mask.classes.shape == (90, 120) and mask.probabilities.shape == (21, 90, 120)
    np.testing.assert_allclose(mask.probabilities.sum(axis=0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(mask.classes, mask.probabilities.argmax(axis=0))
    assert mask.insight is not None and mask.insight.network_input == (128, 171)


def test_deeplab_file_with_aux_head_loads_and_drops_it(hub_cache):
    spec = registry.get("deeplabv3-mobilenet")
    network = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=True)
    torch.save(network.state_dict(), spec.weights[0].cache_path)
    model = spec.build("cpu")
    assert model.network.aux_classifier is None  # loaded strictly with it, then dropped for speed
    assert not model.network.training


def test_large_photos_get_a_class_map_without_the_huge_probability_volume(monkeypatch):
    import cvdemo.models.torchvision_segmentation as module

    monkeypatch.setattr(module, "MAX_PROBABILITY_ELEMENTS", 21 * 100 * 100)
    weights = TorchvisionWeights("LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1").weights
    wrapper = TorchvisionSemanticSegmenter(torch.nn.Identity(), weights, torch.device("cpu"))
    logits = torch.zeros(1, 21, 10, 10)
    logits[:, 15, :, :5] = 5.0  # person on the left half, background on the right
    logits[:, 0, :, 5:] = 5.0
    small = wrapper.postprocess(logits, (100, 100))
    assert small.probabilities is not None
    big = wrapper.postprocess(logits, (300, 300))
    assert big.probabilities is None and big.classes.shape == (300, 300)
    assert (big.classes[:, :140] == 15).all() and (big.classes[:, 160:] == 0).all()


def test_mask_rcnn_wrapper_returns_instances_and_detections():
    torch.manual_seed(0)
    # A small internal resize and few proposals keep this fast (the registered builder keeps
    # torchvision's 800 px and 1000 proposals): the v2 heads cost ~0.1 GFLOP per proposal.
    network = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(
        weights=None, weights_backbone=None, min_size=128, max_size=160, box_score_thresh=0.0,
        rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=20, box_detections_per_img=5)
    weights = TorchvisionWeights("MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1").weights
    model = TorchvisionMaskRCNN(network, weights, torch.device("cpu"))
    assert isinstance(model, InstanceSegmenter) and isinstance(model, Detector)
    image = np.random.default_rng(1).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    instances = model.segment_instances(image, score_threshold=0.0)
    assert instances.masks.shape == (len(instances), 96, 128) and instances.masks.dtype == bool
    assert instances.image_size == (96, 128)
    assert (instances.boxes[:, 2] <= 128.01).all() and (instances.boxes[:, 3] <= 96.01).all()
    detections = model.detect(image, score_threshold=0.0)
    np.testing.assert_allclose(np.sort(detections.scores), np.sort(instances.scores), atol=1e-6)
    strict = model.segment_instances(image, score_threshold=1.01)
    assert len(strict) == 0 and strict.masks.shape == (0, 96, 128)
