"""RoI pooling and RoIAlign against torchvision.ops on real MobileNetV2 features; box
parameterisation against torchvision's BoxCoder; the multi-task loss and quantisation by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import roi_align, roi_pool

from cvdemo.detection import two_stage


@pytest.fixture(scope="module")
def feature_map(mobilenet, chelsea):
    return two_stage.mobilenet_features(mobilenet, chelsea, stride=16)


BOXES = [(37.3, 21.9, 301.4, 270.2), (120.0, 60.5, 180.25, 95.0), (0.0, 0.0, 451.0, 300.0), (400.2, 250.7, 440.9, 299.0)]


def test_features_are_the_whole_picture_at_stride_16(feature_map, chelsea):
    height, width = chelsea.shape[:2]  # 300×451
    assert feature_map.features.shape[1] == 96
    assert feature_map.size == (math.ceil(round(height * 448 / width) / 16), math.ceil(448 / 16))
    assert feature_map.spatial_scale == pytest.approx(feature_map.size[1] / width)


@pytest.mark.parametrize("box", BOXES)
def test_roi_pool_matches_torchvision(feature_map, box):
    ours = two_stage.roi_pool(feature_map.features, box, feature_map.spatial_scale)
    reference = roi_pool(feature_map.features, [torch.tensor([box], dtype=torch.float32)], 7, feature_map.spatial_scale)[0]
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)  # a max picks the same float


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("box", BOXES)
def test_roi_align_matches_torchvision(feature_map, box, aligned):
    ours = two_stage.roi_align(feature_map.features, box, feature_map.spatial_scale, aligned=aligned)
    reference = roi_align(feature_map.features, [torch.tensor([box], dtype=torch.float32)], 7, feature_map.spatial_scale,
                          sampling_ratio=2, aligned=aligned)[0]
    # Same four-tap bilinear formula; sample positions are computed in float64 here, float32 there,
    # which moves a weight by ~1e-7 relative on activations of order 1–10.
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)


def test_quantisation_by_hand():
    # At 1/16: x1 = 10/16 = 0.625 → cell 1, x2 = 50/16 = 3.125 → cell 3; cells 1..3 are pixels 16..64.
    fmap = two_stage.FeatureMap(torch.zeros(1, 1, 10, 10), stride=16, scale=1.0)
    q = two_stage.quantisation((10, 10, 50, 50), fmap)
    np.testing.assert_allclose(q.read, [16, 16, 64, 64])
    np.testing.assert_allclose(q.edge_shift, [6, 6, 14, 14])
    assert q.iou == pytest.approx(34 * 34 / (40 * 40 + 48 * 48 - 34 * 34))  # overlap 16..50 each way
    # 3 cells into 7 bins: bins overlap and repeat cells, which is the second rounding
    bins = two_stage.roi_pool_bins((10, 10, 50, 50), 1 / 16, (10, 10))
    assert bins.cols == ((1, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4), (3, 4))


def test_encode_decode_match_torchvision_boxcoder():
    proposals = torch.tensor([[10.0, 20.0, 110.0, 80.0], [5.0, 5.0, 25.0, 45.0]])
    truths = torch.tensor([[20.0, 10.0, 140.0, 90.0], [0.0, 10.0, 30.0, 40.0]])
    reference = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)).encode_single(truths, proposals).numpy()
    for proposal, truth, expected in zip(proposals.numpy(), truths.numpy(), reference):
        deltas = two_stage.encode(proposal, truth)
        np.testing.assert_allclose(deltas, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(two_stage.decode(proposal, deltas), truth, atol=1e-9)
    # by hand for the first: centres (60, 50) → (80, 50), sizes 100×60 → 120×80
    np.testing.assert_allclose(two_stage.encode(proposals[0].numpy(), truths[0].numpy()),
                               [0.2, 0.0, math.log(1.2), math.log(80 / 60)])


def test_multitask_loss_by_hand():
    proposal, truth = (10, 20, 110, 80), (20, 10, 140, 90)
    predicted = two_stage.decode(proposal, (0.1, 0.0, math.log(1.2), 0.0))
    loss = two_stage.multitask_loss(proposal, truth, predicted, class_probability=0.8)
    # t − v = (−0.1, 0, 0, −log 4/3): smooth L1 = 0.5·0.01 + 0.5·log(4/3)²
    differences = np.array([-0.1, 0.0, 0.0, -math.log(80 / 60)])
    np.testing.assert_allclose(loss.per_coordinate, 0.5 * differences ** 2, atol=1e-12)
    assert loss.proposal_iou == pytest.approx(5400 / 10200) and loss.foreground  # overlap 90×60 of 6000 + 9600 − 5400
    assert loss.classification == pytest.approx(-math.log(0.8))
    assert loss.total == pytest.approx(-math.log(0.8) + 0.5 * (differences ** 2).sum())
    assert loss.squared == pytest.approx((differences ** 2).sum())
    # a background proposal pays only the classification term
    background = two_stage.multitask_loss((200, 200, 260, 260), truth, predicted, class_probability=0.9)
    assert not background.foreground and background.localisation == 0.0
    assert background.total == pytest.approx(-math.log(0.9))
    assert two_stage.smooth_l1(np.array([2.0]))[0] == pytest.approx(1.5)
