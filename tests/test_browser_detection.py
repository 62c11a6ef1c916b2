"""End to end: the detection page in headless Chromium — an uploaded photo, the analysis tabs, live video."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from cvdemo import registry
from cvdemo.detection.drawing import class_color
from cvdemo.registry import Task
from tests.conftest import image_by_caption, pick_view, shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def detector_spec():
    try:
        return registry.default_model(Task.DETECTION)
    except LookupError:
        pytest.skip("no detector is ready offline: nanodet needs `python -m cvdemo weights fetch-pack human-models`")


def _open_tab(page, name: str) -> None:
    pick_view(page, name)


def test_uploaded_photo_gets_boxes(open_page, save_screenshot, detector_spec, astronaut_png, astronaut):
    page = open_page("Detection")
    shown_text(page, "🎯 Detection").wait_for()
    page.locator('[data-testid="stMain"] [data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(astronaut_png))
    shown_text(page, "astronaut.png ·").wait_for(timeout=120_000)
    wait_for_streamlit(page)
    drawn = image_by_caption(page, "astronaut.png")
    assert drawn.shape == astronaut.shape
    changed = np.abs(drawn.astype(int) - astronaut.astype(int)).sum(axis=2) > 60
    # lines and tags, not a repainted picture
    assert 0.002 < changed.mean() < 0.25, changed.mean()
    person = np.array(class_color("person"))
    near = (np.abs(drawn.astype(int) - person).sum(axis=2) < 40) & changed
    assert near.sum() > 200, "a box in the person colour should be drawn around the astronaut"
    ys, xs = np.nonzero(near)
    assert xs.min() < 150 and ys.max() > 300  # around her, on the left and down to the bottom
    assert page.get_by_role("button", name="Download annotated PNG").count() == 1
    assert page.get_by_role("button", name="Download detections (COCO results JSON)").count() == 1
    save_screenshot(page, "detection_upload")


def test_analysis_tabs_render(open_page, save_screenshot, detector_spec):
    page = open_page("Detection")
    _open_tab(page, "✂️ NMS & IoU")
    shown_text(page, "Kept after NMS").wait_for(timeout=120_000)
    assert page.locator('[data-testid="stImage"]').count() >= 3  # before, after, IoU pair
    save_screenshot(page, "detection_nms")
    _open_tab(page, "🔥 Where a one-stage head looks")
    if detector_spec.family.startswith("one-stage"):
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
        assert page.locator('[data-testid="stImage"]').count() >= 1  # an overlay per output level (CenterNet has one)
    save_screenshot(page, "detection_head_levels")


def test_live_webcam_annotates_frames(open_page, save_screenshot, detector_spec):
    page = open_page("Detection")
    _open_tab(page, "🎥 Live webcam")
    frame = page.frame_locator('iframe[data-testid="stCustomComponentV1"]').first
    frame.get_by_role("button", name="START").click()
    # The page refreshes a readout of frames the detector processed; Chromium's fake camera plays
    # real photos (tests/fakecam.py), so frames flow only if decode → detect → draw works.
    readout = page.get_by_text(re.compile(r"Live:.*FPS.*[1-9]\d* frames processed"))
    readout.first.wait_for(timeout=120_000)
    page.wait_for_timeout(3000)  # let the rolling FPS window fill
    text = page.get_by_text(re.compile(r"Live:.*FPS")).first.inner_text()
    fps = float(re.search(r"Live:\s*([0-9.]+)\s*FPS", text).group(1))
    frames = int(re.search(r"(\d+) frames processed", text).group(1))
    assert fps > 0 and frames >= 2, text
    video = frame.locator("video").first
    video.wait_for()
    shot = np.asarray(Image.open(io.BytesIO(video.screenshot())).convert("RGB"))
    # the readout is a strip under the video now, not a black box with yellow text burned into its top-left
    corner = shot[: shot.shape[0] // 12, : shot.shape[1] // 5].reshape(-1, 3).astype(int)
    assert (corner.sum(axis=1) < 60).mean() < 0.3
    # and the results table beside the video names what the detector found in the fake camera's photos
    table = page.locator('[data-testid="stTable"]').first
    table.wait_for()
    assert re.search(r"count\s+best score", table.inner_text()), table.inner_text()
    save_screenshot(page, "detection_live", full_page=False)
    print(f"live detection in headless Chromium: {text}")
