"""The detection page's lecture tabs (YOLO v1 and its loss; two-stage detection), through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "1_Detection.py")


def open_tab(title: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["det_tab"] = title
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


@pytest.mark.page
def test_yolo_v1_tab_shows_both_layouts_and_every_loss_term(require_ready):
    require_ready("yolov3-tiny")
    at = open_tab("🟦 YOLO v1 and its loss")
    frames = [f.value for f in at.dataframe]
    layouts = frames[0]
    assert list(layouts["numbers per cell"]) == ["5·2+20 = 30", "3·(5+80) = 255"]
    assert list(layouts["output numbers"]) == [1470, (13 * 13 + 26 * 26) * 255]
    terms = next(f for f in frames if "term" in f.columns)
    assert list(terms["term"]) == ["centre (x, y)", "size (√w, √h)", "objectness", "no object", "classes"]
    assert list(terms["weight"]) == [5.0, 5.0, 1.0, 0.5, 1.0]
    assert (terms["value"] >= 0).all()
    assert any("other slots of both grids" in c.value for c in at.caption)


@pytest.mark.page
def test_two_stage_tab_pools_the_proposal_both_ways(require_ready):
    require_ready("mobilenet_v2")
    at = open_tab("🪟 Two-stage: RoI pooling & box regression")
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Feature cell"].split()[0]) > 8  # stride 16 on a picture shrunk to 448 px
    assert 0 < float(metrics["IoU of what it reads with the proposal"]) <= 1
    parameters = next(f.value for f in at.dataframe if "target v" in f.value.columns)
    assert list(parameters[""]) == ["tx", "ty", "tw", "th"]
    losses = next(f.value for f in at.dataframe if "term" in f.value.columns)
    total = losses["value"][2]
    assert total == pytest.approx(losses["value"][0] + losses["value"][1])


@pytest.mark.page
def test_two_stage_timings_put_sharing_the_cnn_pass_first(require_ready):
    require_ready("mobilenet_v2")
    at = open_tab("🪟 Two-stage: RoI pooling & box regression")
    at.button(key="det_two_time").click().run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    timings = next(f.value for f in at.dataframe if "design" in f.value.columns)
    assert list(timings["design"][:2]) == ["R-CNN (2014)", "Fast R-CNN (2015)"]
    assert list(timings["lectures"][:2]) == ["≈ 50 s per image", "2.3 s per image"]
    rcnn_fps, fast_fps = timings["FPS here"][:2]
    # 2000 CNN passes against one: R-CNN is slower by far more than timing noise on a shared machine
    assert fast_fps > 5 * rcnn_fps


@pytest.mark.page
def test_overfeat_section_trains_and_localises(require_ready):
    require_ready("mobilenet_v2")
    at = open_tab("🪟 Two-stage: RoI pooling & box regression")
    at.button(key="det_overfeat_train").click().run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Mean IoU of the merged box (held out)"]) > float(metrics["Baseline: “the whole picture”"])
