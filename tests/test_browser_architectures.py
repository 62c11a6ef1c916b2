"""End to end: the architectures page in headless Chromium, one view after another."""

from __future__ import annotations


import pytest

from tests.conftest import image_by_caption, shown_text, wait_for_streamlit

pytestmark = pytest.mark.browser


def test_table_and_accuracy_scatter(open_page, save_screenshot):
    page = open_page("Architectures", timeout_s=300)
    shown_text(page, "Accuracy against cost").wait_for()
    wait_for_streamlit(page, 300)
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for()  # the table and the quoted figures
    scatter = page.locator('[data-testid="stPlotlyChart"]').first
    scatter.scroll_into_view_if_needed()
    scatter.locator("text", has_text="ResNet-152").first.wait_for()
    # Plotly drew one labelled marker per network with an accuracy.
    assert scatter.locator("text", has_text="ResNet-152").count() >= 1
    save_screenshot(page, "architectures_table")


def test_layer_explorer_draws_a_receptive_field(open_page, save_screenshot):
    page = open_page("Architectures?view=Layer+explorer", timeout_s=300)
    shown_text(page, "sees input columns").wait_for()
    drawn = image_by_caption(page, "yellow = receptive field of the red unit")
    assert drawn.shape[0] == drawn.shape[1] == 224
    # Outside the field the photo is dimmed: the centre (inside) is brighter than a corner (outside).
    assert drawn[100:124, 100:124].mean() > drawn[:10, :10].mean()
    save_screenshot(page, "architectures_layers")


def test_convolutionalization_shows_equality_and_a_class_map(open_page, save_screenshot):
    page = open_page("Architectures?view=Convolutionalization", timeout_s=300)
    shown_text(page, "Same weights, same logits").wait_for()
    heat = image_by_caption(page, "over cat (Chelsea)")
    assert heat.shape[2] == 3 and heat.std() > 10
    wait_for_streamlit(page)
    save_screenshot(page, "architectures_convolutionalization")


def test_augmentation_gallery(open_page, save_screenshot):
    page = open_page("Architectures?view=Augmentation", timeout_s=300)
    shown_text(page, "horizontal flip · seed 0").wait_for()
    assert page.locator('[data-testid="stImage"]').count() >= 9  # the sample and 8 geometric augmentations
    page.get_by_text("rotation · seed 0").first.scroll_into_view_if_needed()
    save_screenshot(page, "architectures_augmentation")


def test_transfer_learning_trains_in_the_browser(open_page, save_screenshot):
    page = open_page("Architectures?view=Transfer+learning", timeout_s=300)
    page.get_by_role("button", name="Train", exact=True).click()
    accuracy = page.locator('[data-testid="stMetric"]').filter(has_text="Held-out accuracy").locator('[data-testid="stMetricValue"]')
    accuracy.wait_for(timeout=300_000)
    wait_for_streamlit(page, 300)
    assert float(accuracy.inner_text().strip().rstrip("%")) > 20  # five classes: chance is 20%
    accuracy.scroll_into_view_if_needed()
    save_screenshot(page, "architectures_transfer")
