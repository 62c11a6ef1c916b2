"""End to end in headless Chromium: the last lecture views of issue 17 — torchvision's heads in the
skip view, the Gated-SCNN shape stream and the efficiency chart."""

from __future__ import annotations

import math


import pytest

from tests.conftest import image_by_caption, shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def test_skip_view_lists_what_reaches_torchvisions_heads(open_page, save_screenshot):
    page = open_page("Segmentation?view=how-decoders-upsample", timeout_s=300)
    page.get_by_text("Skips, PSPNet and DeepLabV3+", exact=True).first.click()
    wait_for_streamlit(page, 300)
    shown_text(page, "torchvision's FCN, DeepLabV3 and LR-ASPP: what reaches the head").wait_for()
    page.locator("label").filter(has_text="LR-ASPP MobileNetV3-Large").first.click()
    wait_for_streamlit(page, 300)
    fine = math.ceil(520 / 8)  # the 512×512 astronaut is resized to 520×520
    shown_text(page, f"Skip: the stride-8 map ({fine}×{fine}×40").wait_for()
    save_screenshot(page, "segmentation_torchvision_heads")


def test_gated_scnn_view_draws_the_gate(open_page, save_screenshot, require_ready):
    require_ready("selfie")
    page = open_page("Segmentation?view=gated-scnn-shape-stream", timeout_s=300)
    gradient = image_by_caption(page, "s: Sobel |∇I|")
    gated = image_by_caption(page, "gated shape stream s ⊙ α")
    assert gradient.shape == gated.shape
    boundary = image_by_caption(page, "r: boundary band of the segmenter")
    assert gradient.shape == boundary.shape
    # the browser gets JPEG-compressed copies, so compare totals, not pixels: the gate (α ≤ 1) only
    # removes, and on the astronaut it removes most of the texture
    assert gated.mean() < 0.5 * gradient.mean()
    shown_text(page, "Boundary share, after").wait_for()
    save_screenshot(page, "segmentation_gated_scnn")


def test_efficiency_view_plots_the_trend_and_the_counts(open_page, save_screenshot):
    page = open_page("Architectures?view=efficiency", timeout_s=300)
    shown_text(page, "MACs per image than AlexNet").wait_for()  # the table itself is drawn on a canvas
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 4
    save_screenshot(page, "architectures_efficiency")
