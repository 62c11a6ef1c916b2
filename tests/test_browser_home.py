"""End to end: the real app in headless Chromium."""

import pytest

pytestmark = pytest.mark.browser


def test_home_page_renders_in_chromium(open_page, save_screenshot):
    page = open_page("")
    page.get_by_text("cvdemo — see how modern vision networks work").wait_for()
    page.get_by_text("Running on").first.wait_for()
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert "cvdemo" in page.title()
    save_screenshot(page, "home")
