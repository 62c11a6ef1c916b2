"""The face-verification page under Streamlit's AppTest (no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.page

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "3_Face_verification.py")


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    return at


def test_default_samples_verify_as_the_same_person(app):
    assert [s.value for s in app.success] and app.success[0].value.startswith("Same person")
    assert len(app.get("plotly_chart")) >= 1


def test_threshold_slider_changes_the_verdict(app):
    app.slider(key="fv_threshold").set_value(0.05).run()
    assert not app.exception
    assert app.error and app.error[0].value.startswith("Different people")
    app.slider(key="fv_threshold").set_value(0.6).run()


def test_different_people_and_bad_cases(app):
    app.selectbox(key="fv_b_sample").set_value("cameraman").run()
    assert app.error and app.error[0].value.startswith("Different people")
    app.selectbox(key="fv_b_sample").set_value("coffee cup (no face)").run()
    assert any("No face found in coffee cup" in e.value for e in app.error)
    app.selectbox(key="fv_b_sample").set_value("astronaut and cameraman (two faces)").run()
    assert any("2 faces found" in w.value for w in app.warning)
    assert app.selectbox(key="fv_b_face").value == 0  # the astronaut (left, larger) is the default
    assert app.success and app.success[0].value.startswith("Same person")
    app.selectbox(key="fv_b_face").set_value(1).run()  # pick the cameraman instead
    assert app.error and app.error[0].value.startswith("Different people")
    app.selectbox(key="fv_b_sample").set_value("astronaut, shrunk (tiny face)").run()
    assert any("tiny" in w.value for w in app.warning)
    assert not app.exception


def test_gallery_metric_and_training_views(app):
    app.radio(key="fv_mode").set_value("Gallery & identify").run()
    app.button(key="fv_enrol_samples").click().run()
    assert not app.exception
    assert any("Added 6 sample faces" in s.value for s in app.success)
    table = app.dataframe[0].value
    assert dict(zip(table["person"], table["photos"])) == {"Eileen Collins": 4, "cameraman": 2}
    identified = app.dataframe[1].value  # default identify sample: astronaut and cameraman side by side
    assert list(identified["identified as"]) == ["Eileen Collins", "cameraman"]
    app.button(key="fv_enrol_samples").click().run()  # a second click adds no copies
    assert any("already in the gallery" in i.value for i in app.info)
    table = app.dataframe[0].value
    assert dict(zip(table["person"], table["photos"])) == {"Eileen Collins": 4, "cameraman": 2}

    app.radio(key="fv_mode").set_value("Metric space").run()
    assert not app.exception
    assert [m.label for m in app.metric] == ["False accept rate", "False reject rate", "Equal error rate"]
    assert app.metric[0].value == "0.0%" and app.metric[1].value == "0.0%"
    assert len(app.get("plotly_chart")) == 5

    app.radio(key="fv_mode").set_value("Siamese training").run()
    assert not app.exception
    losses_table = app.dataframe[0].value
    assert len(losses_table) == 5 and (losses_table["value"] >= 0).all()
    app.slider(key="fv_t_margin").set_value(1.0).run()
    assert app.dataframe[0].value["value"][2] > 0  # a 1.0 margin makes the triplet loss active


def test_alignment_cascade_and_why_views(app):
    app.radio(key="fv_mode").set_value("Verify two photos").run()
    app.selectbox(key="fv_b_sample").set_value("astronaut, half as bright").run()
    assert any("Aligned with **dlib 5-point landmarks**" in c.value for c in app.caption)
    app.checkbox(key="fv_cascade").check().run()
    assert any("P-Net scored" in m.value for m in app.markdown)
    app.select_slider(key="fv_why_patch").set_value(40).run()
    app.select_slider(key="fv_why_stride").set_value(20).run()
    app.button(key="fv_why_go").click().run()
    assert not app.exception
    assert any("patches per chip" in c.value for c in app.caption)


def test_a_broken_file_among_enrolment_uploads_skips_only_that_file():
    import io

    from PIL import Image
    from skimage import data

    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["fv_mode"] = "Gallery & identify"
    at.session_state["fv_enrol_source"] = "Upload (several)"
    at.run()
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    at.file_uploader(key="fv_enrol_files").set_value([
        ("notes.png", b"not a picture", "image/png"),
        ("eileen.png", buffer.getvalue(), "image/png"),
    ]).run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert any("Skipped" in e.value and "notes.png" in e.value for e in at.error)
    assert at.button(key="fv_enrol_go").label.startswith("Enrol 1 face(s)")
