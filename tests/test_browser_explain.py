"""End to end in Chromium: the explainability page opens on a Grad-CAM map, and adds occlusion on request."""

from __future__ import annotations

import pytest

from tests.conftest import shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def test_explainability_maps_in_chromium(open_page, save_screenshot):
    page = open_page("Explainability", timeout_s=600)
    shown_text(page, "Explainability — what did the network look at?").wait_for()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.first.wait_for(timeout=300_000)
    assert charts.count() == 1  # Grad-CAM alone on opening
    shown_text(page, "Bright: evidence for “Egyptian cat”").wait_for()  # the legend says what the colours mean
    charts.first.scroll_into_view_if_needed()
    # Hovering a map shows the pixel's value (Plotly's hover label).
    box = charts.first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(".hoverlayer .hovertext").first.wait_for(timeout=30_000)
    assert "attribution" in (page.locator(".hoverlayer .hovertext").first.text_content() or "")
    save_screenshot(page, "explain_three_methods")


def test_occlusion_map_in_chromium(open_page, save_screenshot):
    page = open_page("Explainability", timeout_s=600)
    methods = page.locator('[data-testid="stMultiSelect"]').first
    methods.locator("input").first.click()
    page.keyboard.type("Occlusion")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_for_streamlit(page, 900)
    shown_text(page, "incremental (exact)").wait_for(timeout=900_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2  # Grad-CAM and the occlusion just added
    page.get_by_text("incremental (exact)").first.scroll_into_view_if_needed()
    save_screenshot(page, "explain_occlusion")
