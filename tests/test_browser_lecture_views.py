"""End to end in headless Chromium: the lecture views of issue 17 (part A), one per test."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import image_by_caption, pick_view, shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def _open_tab(page, name: str) -> None:
    pick_view(page, name)
    wait_for_streamlit(page, 300)


def test_yolo_v1_tab_draws_both_grids(open_page, save_screenshot, require_ready):
    require_ready("yolov3-tiny")
    page = open_page("Detection", timeout_s=300)
    _open_tab(page, "🟦 YOLO v1 and its loss")
    shown_text(page, "2 · The loss, term by term").wait_for()
    v1 = image_by_caption(page, "YOLO v1: 7×7 cells over the photo")
    # the responsible cell is shaded cyan: some pixels are strongly blue-green
    assert ((v1[..., 2].astype(int) - v1[..., 0]) > 120).any()
    image_by_caption(page, "is responsible")
    save_screenshot(page, "detection_yolo_v1")


def test_two_stage_tab_draws_bins_and_samples(open_page, save_screenshot, require_ready):
    require_ready("mobilenet_v2")
    page = open_page("Detection", timeout_s=300)
    _open_tab(page, "🪟 Two-stage: RoI pooling & box regression")
    pooled = image_by_caption(page, "RoI pooling: ")
    aligned = image_by_caption(page, "RoIAlign: the proposal's exact 7×7 bins")
    red = (pooled[..., 0] > 200) & (pooled[..., 1] < 90) & (pooled[..., 2] < 90)
    green = (aligned[..., 1] > 180) & (aligned[..., 0] < 90) & (aligned[..., 2] < 130)
    assert red.sum() > 200 and green.sum() > 200
    shown_text(page, "RoI pooling moves the edges by").wait_for()
    save_screenshot(page, "detection_two_stage")


def test_arithmetic_view(open_page, save_screenshot):
    page = open_page("Architectures?view=Arithmetic", timeout_s=300)
    shown_text(page, "65,536").wait_for()
    shown_text(page, "11,075,584").wait_for()
    shown_text(page, "4 · AlexNet, layer by layer").wait_for()
    save_screenshot(page, "architectures_arithmetic")


def test_skips_view_cuts_and_restores_the_skips(open_page, save_screenshot, require_ready):
    require_ready("selfie")
    page = open_page("Segmentation", timeout_s=300)
    page.get_by_text("How decoders upsample", exact=True).first.click()
    wait_for_streamlit(page, 300)
    page.get_by_text("Skips, PSPNet and DeepLabV3+", exact=True).first.click()
    wait_for_streamlit(page, 300)
    none = image_by_caption(page, "no skips")
    full = image_by_caption(page, "the network as trained")
    assert none.shape == full.shape and np.abs(none.astype(int) - full).mean() > 1  # the masks differ visibly
    shown_text(page, "DeepLabV3+: encoder, ASPP and decoder").wait_for()
    save_screenshot(page, "segmentation_skips")
