"""End to end: the real app in headless Chromium."""

import pytest

from tests.conftest import shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def test_home_page_renders_in_chromium(open_page, save_screenshot):
    page = open_page("")
    shown_text(page, "cvdemo — see how modern vision networks work").wait_for()
    shown_text(page, "Running on").wait_for()
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    shown_text(page, "Prepare for class").first.wait_for()
    assert "cvdemo" in page.title()
    save_screenshot(page, "home")


def test_a_first_visit_by_link_lists_only_the_apps_pages(browser, fresh_app_url):
    # Streamlit lists app.py itself as a page named "app" when a server's first visitor comes by a
    # page's link (its old pages-folder mode); the sidebar must show the app's own navigation.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=fresh_app_url)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto("/GAN_faces")
        wait_for_streamlit(page)
        page.get_by_role("heading", name="GAN").first.wait_for()
        lines = page.locator('[data-testid="stSidebarNav"]').inner_text().splitlines()
        entries = [line.strip() for line in lines if any(char.isalpha() for char in line)]  # icons are lines of their own
        assert entries == ["Home", "Detection", "Segmentation", "Face verification", "GAN faces", "Explainability",
                           "Architectures"], entries
    finally:
        context.close()
