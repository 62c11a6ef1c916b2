"""Forward-hook tracing of decoders: resolution path, transposed convolutions, torchvision heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cvdemo import registry
from cvdemo.models.torchvision_segmentation import TorchvisionSemanticSegmenter
from cvdemo.registry import Task
from cvdemo.results import SemanticMask
from cvdemo.segmentation.decoders import nominal_stride, trace_decoder
from cvdemo.weights import TorchvisionWeights


class TinyUNet(nn.Module):
    """Encoder 64→32→16→8, decoder back up with one k3/s2 and one k2/s2 transposed conv and a skip."""

    def __init__(self):
        super().__init__()
        self.down1 = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.down3 = nn.Sequential(nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(32, 8, 2, stride=2)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = self.down1(x)
        b = self.down2(a)
        c = self.down3(b)
        u = torch.cat([self.up1(c), b], dim=1)  # skip connection from the encoder
        u = self.up2(u)
        return F.interpolate(self.head(u), scale_factor=2, mode="bilinear")


class TinySegmenter:
    def __init__(self):
        torch.manual_seed(0)
        self.network = TinyUNet().eval()
        self.device = torch.device("cpu")
        self.categories = ("background", "person")

    def segment(self, image: np.ndarray) -> SemanticMask:
        with torch.inference_mode():
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            probabilities = torch.softmax(self.network(x)[0], dim=0).numpy()
        return SemanticMask(probabilities.argmax(0).astype(np.uint8), self.categories, probabilities)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)


def test_resolution_path_goes_down_then_up(image):
    model = TinySegmenter()
    trace = trace_decoder(model, image, "tiny")
    assert trace.network_input == (64, 64)
    strides = [stage.stride for stage in trace.path]
    assert strides == [2, 4, 8, 4, 2]
    assert [s.role for s in trace.path] == ["encoder", "encoder", "bottleneck", "decoder", "decoder"]
    last = trace.path[-1]
    assert last.name == "head" and last.scores is not None and last.scores.shape == (2, 32, 32)
    np.testing.assert_allclose(last.scores.sum(axis=0), 1.0, atol=1e-5)
    for stage in trace.path:
        assert stage.energy.shape == stage.shape[1:] and 0.0 <= stage.energy.min() and stage.energy.max() <= 1.0
    assert trace.mask.classes.shape == (64, 64)


def test_transposed_convolutions_are_listed_with_their_checkerboard_risk(image):
    trace = trace_decoder(TinySegmenter(), image)
    layers = {u.name: u for u in trace.upsampling}
    assert set(layers) == {"up1", "up2"}
    assert layers["up1"].kernel == (3, 3) and layers["up1"].stride == (2, 2) and layers["up1"].overlap_unevenness == pytest.approx(4.0)
    assert layers["up2"].overlap_unevenness == pytest.approx(1.0)
    assert (layers["up1"].input_shape, layers["up1"].output_shape) == ((8, 8), (16, 16))
    assert any("up1" in note and "checkerboard risk" in note for note in trace.notes)
    assert any("up2" in note and "no checkerboard" in note for note in trace.notes)
    # The final ×2 is F.interpolate in forward(): not a layer, and said so.
    assert any("outside any layer" in note for note in trace.notes)


def test_tracing_leaves_the_shared_model_untouched(image):
    model = TinySegmenter()
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    trace = trace_decoder(model, image)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.network.modules())
    for key, value in model.network.state_dict().items():
        assert torch.equal(value, before[key])
    np.testing.assert_array_equal(trace.mask.classes, model.segment(image).classes)


def test_nominal_stride_snaps_to_powers_of_two():
    assert nominal_stride(520, 33) == 16 and nominal_stride(520, 65) == 8 and nominal_stride(256, 256) == 1
    assert nominal_stride(300, 100) == 3.0


def _small_torchvision(builder, enum_name, **kwargs) -> TorchvisionSemanticSegmenter:
    torch.manual_seed(0)
    network = getattr(torchvision.models.segmentation, builder)(weights=None, weights_backbone=None, **kwargs)
    return TorchvisionSemanticSegmenter(network, TorchvisionWeights(enum_name).weights, torch.device("cpu"), short_side=128)


def test_lraspp_head_parts_add_up_to_the_coarse_scores(image):
    model = _small_torchvision("lraspp_mobilenet_v3_large", "LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1")
    trace = trace_decoder(model, image)
    named = {s.name: s for s in trace.named}
    assert {"classifier.low_classifier", "classifier.high_classifier", "classifier"} <= set(named)
    assert named["classifier.low_classifier"].stride == 8 and named["classifier"].stride == 8
    assert named["classifier"].scores is not None and named["classifier"].scores.shape[0] == 21
    # LR-ASPP adds the stride-8 skip's scores to the upsampled context's scores.
    np.testing.assert_allclose(named["classifier.low_classifier"].logits + named["classifier.high_classifier"].logits,
                               named["classifier"].logits, rtol=1e-5, atol=1e-5)
    assert trace.path and min(s.stride for s in trace.path) == 2 and max(s.stride for s in trace.path) == 16


def test_deeplab_aspp_branches_are_named_with_their_rates(image):
    model = _small_torchvision("deeplabv3_mobilenet_v3_large", "DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1")
    trace = trace_decoder(model, image)
    titles = [s.title for s in trace.named if s.role == "ASPP branch"]
    assert any("rate 12" in t for t in titles) and any("rate 24" in t for t in titles) and any("rate 36" in t for t in titles)
    assert any("image pooling" in t for t in titles) and any("1×1" in t for t in titles)
    pooling = next(s for s in trace.named if "image pooling" in s.title)
    # Broadcast: the same everywhere up to float rounding (which differs by CPU), so drawn flat.
    assert np.ptp(pooling.energy) == 0.0
    aspp = next(s for s in trace.named if "rate 12" in s.title)
    assert np.ptp(aspp.energy) > 0.1  # a real spatial pattern is still stretched to the full scale
    coarse = next(s for s in trace.named if s.name == "classifier")
    assert coarse.stride == 16 and coarse.scores.shape[0] == 21
    assert any("bilinearly interpolated" in note for note in trace.notes)


def test_offline_person_segmenters_show_their_decoder(image):
    ready = [s for s in registry.ready_models(Task.SEMANTIC_SEGMENTATION)
             if "person" in s.categories and not any(isinstance(w, TorchvisionWeights) for w in s.weights)]
    if not ready:
        pytest.skip("no offline person segmenter is ready (run `python -m cvdemo weights fetch-pack human-models`)")
    for spec in ready:
        trace = trace_decoder(spec.build("cpu"), image, spec.name)
        assert any(s.role == "decoder" for s in trace.path), spec.name
        assert max(s.stride for s in trace.path) >= 8, spec.name
        assert trace.mask.classes.shape == image.shape[:2]
        # Both MediaPipe decoders end in a 2×2 stride-2 transposed convolution: no checkerboard.
        assert any(u.kind == "transposed convolution" and u.overlap_unevenness == 1.0 for u in trace.upsampling), spec.name
