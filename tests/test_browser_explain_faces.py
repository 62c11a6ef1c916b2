"""End to end in Chromium: the two face-occlusion views give red the same meaning."""

from __future__ import annotations

import pytest

from tests.conftest import shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def test_both_face_occlusion_views_say_red_supports_the_match(open_page, save_screenshot):
    from cvdemo.colormaps import FACE_MATCH_LEGEND

    page = open_page("Face_verification", timeout_s=600)
    page.get_by_text("Why do these two match? (occlusion)").first.click()
    wait_for_streamlit(page, 300)
    on_the_faces_page = shown_text(page, "Red: supports the match")
    on_the_faces_page.wait_for(timeout=300_000)
    faces_words = on_the_faces_page.inner_text()

    page = open_page("Explainability", timeout_s=600)
    page.locator('[data-testid="stRadio"]').first.get_by_text("Face verification", exact=True).click()
    wait_for_streamlit(page, 900)
    under_the_map = shown_text(page, "Red: supports the match")
    under_the_map.wait_for(timeout=900_000)  # drawn under the occlusion map once it is computed
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 1
    assert under_the_map.inner_text() == faces_words == FACE_MATCH_LEGEND
    under_the_map.scroll_into_view_if_needed()
    save_screenshot(page, "explain_face_verification_legend")
