"""One page pattern: a picker over each page's VIEWS, and links that open a view."""

from __future__ import annotations

import importlib

import pytest
from streamlit.testing.v1 import AppTest

from cvdemo.ui.pages import FEATURES
from cvdemo.ui.pages import slug, view_link
from tests.conftest import ROOT

UI_MODULES = {"Detection": "detection", "Segmentation": "segmentation", "Face verification": "faces",
              "GAN faces": "gan", "Explainability": "explain", "Architectures": "architectures"}


def test_slugs_keep_letters_and_digits_only():
    assert slug("✂️ NMS & IoU") == "nms-iou"
    assert slug("🟨 YOLO's output tensor") == "yolos-output-tensor"
    assert slug("mIoU vs. ground truth") == "miou-vs-ground-truth"
    assert slug("Gallery & identify") == "gallery-identify"


def test_view_link_is_the_page_path_and_the_views_slug():
    assert view_link("Detection", "✂️ NMS & IoU") == "/Detection?view=nms-iou"
    assert view_link("Face verification", "Metric space") == "/Face_verification?view=metric-space"
    assert view_link("GAN faces", "latent-walk") == "/GAN_faces?view=latent-walk"
    with pytest.raises(KeyError, match="no page titled"):
        view_link("Nowhere", "Table")


def test_every_feature_page_has_views_with_distinct_links():
    assert {page.title for page in FEATURES} == set(UI_MODULES)
    for page, module in UI_MODULES.items():
        views = importlib.import_module(f"cvdemo.ui.{module}").VIEWS
        assert views and all(callable(render) for render in views.values()), page
        slugs = [slug(title) for title in views]
        assert all(slugs) and len(set(slugs)) == len(slugs), (page, slugs)


def _toy_page():
    import streamlit as st

    from cvdemo.ui.views import show_views

    def shows(name):
        return lambda suffix: st.markdown(f"opened {name}{suffix}")

    show_views({"First view": shows("first"), "Second view": shows("second"), "Third view": shows("third")}, "toy_view", "!")


def _opened(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("opened")]


@pytest.mark.page
def test_only_the_picked_view_runs_and_gets_the_arguments():
    at = AppTest.from_function(_toy_page).run()
    assert not at.exception and _opened(at) == ["opened first!"]
    assert "view" not in at.query_params  # the first view needs no link
    at.radio(key="toy_view").set_value("Third view").run()
    assert _opened(at) == ["opened third!"]
    assert at.query_params["view"] == "third-view"
    at.radio(key="toy_view").set_value("First view").run()
    assert _opened(at) == ["opened first!"] and "view" not in at.query_params


@pytest.mark.page
def test_a_link_opens_its_view_and_the_picker_still_moves_away_from_it():
    at = AppTest.from_function(_toy_page)
    at.query_params["view"] = "second-view"
    at.run()
    assert not at.exception and _opened(at) == ["opened second!"]
    assert at.radio(key="toy_view").value == "Second view"
    at.radio(key="toy_view").set_value("Third view").run()  # the old link must not pull it back
    assert _opened(at) == ["opened third!"] and at.query_params["view"] == "third-view"


@pytest.mark.page
def test_a_title_in_the_link_works_and_an_unknown_view_opens_the_first():
    at = AppTest.from_function(_toy_page)
    at.query_params["view"] = "Second view"
    at.run()
    assert _opened(at) == ["opened second!"]
    at = AppTest.from_function(_toy_page)
    at.query_params["view"] = "no-such-view"
    at.run()
    assert not at.exception and _opened(at) == ["opened first!"]


@pytest.mark.page
def test_a_link_opens_a_view_of_a_real_page():
    at = AppTest.from_file(str(ROOT / "pages" / "2_Segmentation.py"), default_timeout=300)
    at.query_params["view"] = "how-decoders-upsample"
    at.run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert at.radio(key="seg_mode").value == "How decoders upsample"
    assert at.radio(key="seg_dec_view").value == "Transposed convolution"
