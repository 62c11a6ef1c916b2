"""End to end: the GAN page in headless Chromium, including a click on the face grid."""

import pytest

pytestmark = pytest.mark.browser

GRID_FACES = 16  # the page's default grid: 4×4 tiles of 64 px with 2 px gaps
TILE, PAD, COLUMNS = 64, 2, 4


def _click_face(page, index: int) -> None:
    """Click the centre of grid tile ``index`` in the Plotly chart.

    Plotly's drag layer covers exactly the axes' range (0 … grid width, 0 … grid height), so a
    tile centre in grid pixels maps linearly onto it.
    """
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.scroll_into_view_if_needed()
    layer = chart.locator(".nsewdrag").first
    box = layer.bounding_box()
    size = COLUMNS * (TILE + PAD) + PAD
    row, column = divmod(index, COLUMNS)
    x = PAD + column * (TILE + PAD) + TILE / 2
    y = PAD + row * (TILE + PAD) + TILE / 2
    page.mouse.move(box["x"] + x / size * box["width"], box["y"] + y / size * box["height"])
    page.mouse.click(box["x"] + x / size * box["width"], box["y"] + y / size * box["height"])


def test_gan_page_samples_clicks_and_walks(open_page, save_screenshot):
    from tests.conftest import pick_view, shown_text, wait_for_streamlit

    page = open_page("GAN_faces")
    shown_text(page, "GAN faces — a DCGAN generator to play with").wait_for()
    shown_text(page, "Face 0 of seed 42: 64×64 native").wait_for()

    _click_face(page, 6)
    shown_text(page, "Face 6 of seed 42: 64×64 native").wait_for(timeout=60_000)
    wait_for_streamlit(page)
    assert page.locator('[data-testid="stSidebar"] input[aria-label="Chosen face"]').input_value() == "6"
    save_screenshot(page, "gan_sample")

    pick_view(page, "Latent walk")
    shown_text(page, "the path, frame by frame").wait_for(timeout=60_000)
    wait_for_streamlit(page)
    assert page.get_by_role("button", name="Download GIF").count() == 1
    save_screenshot(page, "gan_walk")

    pick_view(page, "Inside the generator")
    shown_text(page, "stage 1: 4×4, 512 channels").wait_for(timeout=60_000)
    wait_for_streamlit(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 1  # the layer table
    save_screenshot(page, "gan_inside")
