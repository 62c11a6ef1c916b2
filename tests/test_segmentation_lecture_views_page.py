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
    at.radio(key="dec_view").set_value("Skips, PSPNet and DeepLabV3+").run()
    no_exception(at)
    table = _frame_with(at, "maps reaching the head").set_index("network")
    # the default sample (astronaut) is 512×512: resized to 520×520, stride 8 → ⌈520/8⌉ = 65 cells, stride 16 → 33
    fine, coarse = math.ceil(520 / 8), math.ceil(520 / 16)
    fcn = table.loc[registry.get("fcn-resnet50").title]
    assert fcn["maps reaching the head"] == f"stride 8: {fine}×{fine}×2048 (out)"
    assert fcn["skips"] == 0 and fcn["skip fusion"] == "none" and fcn["final bilinear upsampling"] == "×8"
    deeplab = table.loc[registry.get("deeplabv3-resnet50").title]
    assert deeplab["ASPP rates"] == "12, 24, 36" and deeplab["skips"] == 0
    lraspp = table.loc[registry.get("lraspp-mobilenet").title]
    assert lraspp["maps reaching the head"] == f"stride 8: {fine}×{fine}×40 (low); stride 16: {coarse}×{coarse}×960 (high)"
    assert lraspp["skips"] == 1 and lraspp["skip fusion"] == "addition of class scores"
    at.radio(key="seg_heads_model").set_value("lraspp-mobilenet").run()
    no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Skip: the stride-8 map" in text
    spec = registry.get("lraspp-mobilenet")
    if not spec.ready:
        assert any(f"weights fetch {spec.metadata['weights_enum']}" in i.value for i in at.info)
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
    at.slider(key="gscnn_wr").set_value(0.0).run()
    blind = {m.label: float(m.value.rstrip("%")) / 100 for m in at.metric}
    assert blind["Boundary share, after"] < after
