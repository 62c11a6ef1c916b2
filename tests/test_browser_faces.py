"""End to end in Chromium: upload two photos on the face-verification page and read the verdict."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED, shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def _photos(tmp_path):
    """Two photos of the same person: the shared Obama photos when present, else sample edits."""
    shared = SHARED / "facedata" / "images"
    if (shared / "obama.jpg").is_file() and (shared / "obama2.jpg").is_file():
        return shared / "obama.jpg", shared / "obama2.jpg"
    from PIL import Image

    from cvdemo.faces import samples

    a, b = tmp_path / "astronaut.png", tmp_path / "astronaut_dark.png"
    Image.fromarray(samples.sample("astronaut (Eileen Collins)")).save(a)
    Image.fromarray(samples.sample("astronaut, half as bright")).save(b)
    return a, b


def test_verify_two_uploads_in_chromium(open_page, save_screenshot, tmp_path):
    page = open_page("Face_verification", timeout_s=300)
    shown_text(page, "Face verification").wait_for()
    first, second = _photos(tmp_path)
    for index, path in enumerate((first, second)):
        page.get_by_text("Upload", exact=True).nth(index).click()
        wait_for_streamlit(page, 300)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').nth(index).set_input_files(str(path))
        wait_for_streamlit(page, 300)
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text="Same person")
    verdict.first.wait_for(timeout=300_000)
    text = verdict.first.inner_text()
    assert "distance" in text and "threshold 0.60" in text
    distance = float(text.split("distance")[1].split("<")[0])
    assert 0 <= distance < 0.6
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    verdict.first.scroll_into_view_if_needed()
    save_screenshot(page, "face_verification_uploads")


def test_gallery_metric_and_training_views_in_chromium(open_page, save_screenshot):
    page = open_page("Face_verification", timeout_s=300)
    page.get_by_text("Gallery & identify", exact=True).click()
    wait_for_streamlit(page, 300)
    page.get_by_role("button", name="Add the sample faces (astronaut ×4, cameraman ×2)").click()
    wait_for_streamlit(page, 300)
    shown_text(page, "Added 6 sample faces.").wait_for()
    shown_text(page, "Gallery: 2 people, 6 photos").wait_for()
    save_screenshot(page, "face_gallery")
    page.get_by_text("Metric space", exact=True).click()
    wait_for_streamlit(page, 300)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 5
    save_screenshot(page, "face_metric_space")
    page.get_by_text("Siamese training", exact=True).click()
    wait_for_streamlit(page, 300)
    shown_text(page, "d(anchor, positive)").wait_for()
    save_screenshot(page, "face_siamese_training")
