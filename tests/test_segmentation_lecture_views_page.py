"""The segmentation page's issue-17 views through AppTest: torchvision's heads in the skip view and
the Gated-SCNN shape stream."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cvdemo import registry
from tests.conftest import ROOT

pytestmark = pytest.mark.page

PAGE = str(ROOT / "pages" / "2_Segmentation.py")


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_skip_view_shows_what_reaches_torchvisions_heads_and_the_download_it_needs():
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.radio(key="seg_mode").set_value("How decoders upsample").run()
    at.radio(key="seg_dec_view").set_value("Skips, PSPNet and DeepLabV3+").run()
    no_exception(at)
    table = _frame_with(at, "maps reaching the head").set_index("network")
    # the default sample (astronaut) is 512×512: resized to 520×520, stride 8 → ⌈520/8⌉ = 65 cells, stride 16 → 33
    fine, coarse = math.ceil(520 / 8), math.ceil(520 / 16)
    fcn = table.loc["FCN ResNet-50"]
    assert fcn["maps reaching the head"] == f"stride 8: {fine}×{fine}×2048 (out)"
    assert fcn["skips"] == 0 and fcn["skip fusion"] == "none" and fcn["final upsampling (bilinear)"] == "×8"
    deeplab = table.loc["DeepLabV3 ResNet-50"]
    assert deeplab["ASPP rates"] == "12, 24, 36" and deeplab["skips"] == 0
    lraspp = table.loc["LR-ASPP MobileNetV3"]
    assert lraspp["maps reaching the head"] == f"stride 8: {fine}×{fine}×40 (low); stride 16: {coarse}×{coarse}×960 (high)"
    assert lraspp["skips"] == 1 and lraspp["skip fusion"] == "addition of class scores"
    at.radio(key="seg_heads_model").set_value("lraspp-mobilenet").run()
    no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Skip: the stride-8 map" in text
    spec = registry.get("lraspp-mobilenet")
    if not spec.ready:
        assert spec.zoo_weights is not None
        enum_name = f"{type(spec.zoo_weights).__name__}.{spec.zoo_weights.name}"
        assert any(f"weights fetch {enum_name}" in i.value for i in at.info)
    at.radio(key="seg_heads_model").set_value("fcn-resnet50").run()
    assert "no skip is fused" in " ".join(m.value for m in at.markdown)


def test_gated_scnn_view_gates_the_gradients_with_the_segmenters_boundary(require_ready):
    require_ready("selfie")
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.radio(key="seg_mode").set_value("Gated-SCNN shape stream").run()
    at.selectbox(key="seg_model").set_value("selfie").run()
    no_exception(at)
    metrics = {m.label: float(m.value.rstrip("%")) / 100 for m in at.metric}
    before = metrics["Boundary share, before"]
    after = metrics["Boundary share, after"]
    # on the astronaut most gradient is texture (suit, flag, background); the gate moves it to the outline
    assert 0 < before < 0.5 < after
    assert metrics["Boundary edges kept"] > metrics["Other edges kept"]
    assert any("not** the trained Gated-SCNN" in m.value for m in at.markdown)
    # without the segmenter's boundary the gate cannot tell object edges from texture
    at.slider(key="seg_gscnn_wr").set_value(0.0).run()
    blind = {m.label: float(m.value.rstrip("%")) / 100 for m in at.metric}
    assert blind["Boundary share, after"] < after


def test_skip_view_cuts_lraspps_skip_once_its_weights_are_here(monkeypatch, astronaut):
    """The downloaded-weights path, with the architecture at random initialisation standing in for
    the download (no internet here): what is tested is that the page cuts exactly the skip."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torchvision.models import get_weight

    from cvdemo.models.torchvision_segmentation import TorchvisionSemanticSegmenter
    from cvdemo.registry import ModelSpec
    from cvdemo.segmentation import torchvision_heads as heads
    from cvdemo.ui import segmentation_heads_view
    from cvdemo.yolo.insight import display_copy

    torch.manual_seed(0)
    network = heads.build_architecture("lraspp_mobilenet_v3_large", device="cpu")
    head = network.classifier
    model = TorchvisionSemanticSegmenter(network, get_weight("LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1"),
                                         torch.device("cpu"), short_side=64)
    picture = display_copy(astronaut, 480)
    with torch.no_grad():
        # Untrained, the stride-16 context branch gives ~1e-11 everywhere, so the skip would decide every
        # pixel. A context bias for one class, set between the skip's per-cell margins, makes the skip
        # win in about half of the cells only.
        head.low_classifier.bias.zero_()
        head.high_classifier.bias.zero_()
        tensor = model.preprocess(picture)
        skip = head.low_classifier(network.backbone(tensor)["low"])[0]
        favoured = 0
        margins = (skip.max(dim=0).values - skip[favoured]).flatten().sort().values
        middle = len(margins) // 2
        head.high_classifier.bias[favoured] = (margins[middle] + margins[middle + 1]) / 2
    ready = ModelSpec.ready
    monkeypatch.setattr(ModelSpec, "ready", property(lambda spec: spec.name == "lraspp-mobilenet" or ready.fget(spec)))
    monkeypatch.setattr(segmentation_heads_view, "cached_model", lambda name: model)
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["seg_mode"] = "How decoders upsample"
    at.session_state["seg_dec_view"] = "Skips, PSPNet and DeepLabV3+"
    at.session_state["seg_heads_model"] = "lraspp-mobilenet"
    at.run()
    no_exception(at)
    size = picture.shape[:2]

    def classes(logits):
        """What the network and the segmenter's postprocessing do after the head: two bilinear resizes."""
        logits = F.interpolate(logits, size=tensor.shape[-2:], mode="bilinear", align_corners=False)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[0].argmax(0).numpy()

    with torch.no_grad():  # LR-ASPP's head by hand, with and without its skip's summand
        features = network.backbone(tensor)
        low, high = features["low"], features["high"]
        context = head.cbr(high) * head.scale(high)
        context = head.high_classifier(F.interpolate(context, size=low.shape[-2:], mode="bilinear", align_corners=False))
        full, cut = classes(head.low_classifier(low) + context), classes(context)
    changed = float(np.mean(full != cut))
    assert 0.05 < changed < 0.95
    (metric,) = [m for m in at.metric if m.label == "Pixels whose class the skip changes"]
    assert metric.value == f"{changed:.1%}", (metric.value, changed)
