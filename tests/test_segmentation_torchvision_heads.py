"""What reaches the heads of torchvision's FCN, DeepLabV3 and LR-ASPP, checked on the untrained
architectures (``weights=None``: structure and shapes do not depend on the weights) against
torchvision run directly on the CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models import get_weight

from cvdemo import registry
from cvdemo.models.torchvision_segmentation import TorchvisionSemanticSegmenter
from cvdemo.segmentation import torchvision_heads as heads


@pytest.mark.parametrize("builder", list(heads.BUILDERS.values()))
def test_meta_wiring_matches_torchvision_run_on_the_cpu(builder):
    torch.manual_seed(0)
    network = heads.build_architecture(builder, device="cpu")
    size = (72, 104)  # not a multiple of 16: the rounding of odd sizes must agree too
    wiring = heads.head_wiring(network, size, builder)
    with torch.no_grad():
        features = network.backbone(torch.zeros(1, 3, *size))
        # LR-ASPP's head reads the whole dict (low and high); FCN's and DeepLab's only "out"
        coarse = network.classifier(features if "low" in features else features["out"])
        output = network(torch.zeros(1, 3, *size))["out"]
    assert {(i.key, i.channels, i.size) for i in wiring.inputs} == {
        (key, t.shape[1], tuple(t.shape[-2:])) for key, t in features.items()}
    assert wiring.coarse_scores == tuple(coarse.shape[1:])
    assert wiring.output == tuple(output.shape[1:]) == (21, *size)


def test_fcn_resnet50_reads_one_stride_8_map_and_has_no_skip():
    wiring = heads.wiring_for("fcn_resnet50", (480, 640))
    # torchvision's weights resize the shorter side to 520: 640 · 520/480 = 693.3 → 693
    assert wiring.network_input == (520, 693)
    (only,) = wiring.inputs
    # four stride-2 steps (conv1, maxpool, layer2) then dilation: ⌈520/8⌉ = 65, ⌈693/8⌉ = 87
    assert (only.layer, only.channels, only.size, only.stride) == ("layer4", 2048, (65, 87), 8)
    assert only.dilation == 4  # layer3 dilation 2, layer4 dilation 4 replace their strides
    assert wiring.skips == () and wiring.fusion == "none" and wiring.aspp_rates == ()
    assert wiring.final_upsampling == 8 and wiring.final_upsampling_label == "×8"
    assert any("no skip" in line for line in heads.describe(wiring))


@pytest.mark.parametrize("builder, stride", [("deeplabv3_resnet50", 8), ("deeplabv3_mobilenet_v3_large", 16)])
def test_deeplabv3_aspp_rates_and_output_stride(builder, stride):
    wiring = heads.wiring_for(builder, (520, 520))
    (only,) = wiring.inputs
    assert only.stride == stride and only.size == (math.ceil(520 / stride),) * 2
    name = next(n for n, b in heads.BUILDERS.items() if b == builder)
    assert wiring.aspp_rates == registry.get(name).metadata["atrous_rates"] == (12, 24, 36)
    assert wiring.image_pooling and wiring.skips == ()
    assert wiring.coarse_scores == (21, *only.size)


def test_lraspp_has_one_stride_8_skip_added_to_stride_16_context():
    wiring = heads.wiring_for("lraspp_mobilenet_v3_large", (520, 520))
    low, high = wiring.inputs
    assert (low.key, low.channels, low.size, low.stride) == ("low", 40, (65, 65), 8)
    assert (high.key, high.channels, high.size, high.stride) == ("high", 960, (33, 33), 16)
    assert wiring.skips == (low,) and wiring.fusion == "addition of class scores"
    assert wiring.coarse_scores == (21, 65, 65) and wiring.final_upsampling == 8


def test_cutting_lraspps_skip_removes_exactly_its_summand():
    torch.manual_seed(0)
    network = heads.build_architecture("lraspp_mobilenet_v3_large", device="cpu")
    weights = get_weight("LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1")  # metadata only, no download
    model = TorchvisionSemanticSegmenter(network, weights, torch.device("cpu"), short_side=64)
    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    full = model.segment(image)
    cut = heads.segment_with_module_zeroed(model, image, heads.LRASPP_SKIP)
    with torch.no_grad():
        tensor = model.preprocess(image)
        low = network.backbone(tensor)["low"]
        skip_scores = F.interpolate(network.classifier.low_classifier(low), size=(64, 96), mode="bilinear", align_corners=False)
        expected = torch.softmax(network(tensor)["out"] - skip_scores, dim=1)[0].numpy()
    # float32 softmax of the same sums computed in another order: rounding only
    np.testing.assert_allclose(cut.probabilities, expected, rtol=0, atol=1e-5)
    assert not np.allclose(cut.probabilities, full.probabilities, atol=1e-3)
    # the shared model is untouched: no hook left behind
    np.testing.assert_array_equal(model.segment(image).probabilities, full.probabilities)
    assert heads.agreement(full.classes, full.classes) == 1.0


def test_the_view_covers_the_registrys_torchvision_semantic_segmenters():
    from cvdemo.registry import Task

    registered = {s.name: s.torchvision_builder for s in registry.all_models(Task.SEMANTIC_SEGMENTATION)
                  if s.torchvision_builder}
    assert heads.BUILDERS == registered
    assert set(heads.SHORT_TITLES) == set(heads.BUILDERS)
