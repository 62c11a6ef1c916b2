"""The explainability page under Streamlit's AppTest, and the ``explain`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest


ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "5_Explainability.py")


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(PAGE, default_timeout=900)
    at.run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    return at


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.page
def test_default_view_compares_three_methods_on_the_cat(app):
    assert len(app.get("plotly_chart")) == 3
    table = app.dataframe[0].value
    assert table["class"].iloc[0] in {"Egyptian cat", "tabby", "tiger cat"}
    assert any(c.startswith("Conservation:") and "passes" in c for c in _captions(app))
    assert app.selectbox(key="xp_target").value == int(table["index"].iloc[0])  # top-1 by default
    assert len(app.get("download_button")) == 6  # PNG and .npy per map


@pytest.mark.page
def test_occlusion_and_target_change(app):
    app.multiselect(key="xp_methods").set_value(["occlusion", "integrated_gradients"]).run()
    app.slider(key="xp_patch").set_value(56).run()
    app.slider(key="xp_stride").set_value(56).run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    captions = " ".join(_captions(app))
    assert "incremental (exact)" in captions and "convergence delta" in captions
    assert "16 patch positions" in captions
    app.selectbox(key="xp_target").set_value(281).run()  # tabby
    assert not app.exception and len(app.get("plotly_chart")) == 2


@pytest.mark.page
def test_published_lrp_rules_are_refused_on_mobilenet(app):
    app.multiselect(key="xp_methods").set_value(["lrp_alpha_beta"]).run()
    app.toggle(key="xp_lrp_standard").set_value(True).run()
    assert any("does not add up" in e.value for e in app.error)
    assert len(app.get("plotly_chart")) == 0  # the failing map is not shown
    app.toggle(key="xp_lrp_standard").set_value(False).run()
    assert not app.error and len(app.get("plotly_chart")) == 1


@pytest.mark.page
def test_sanity_checks_run_from_the_page(app):
    app.multiselect(key="xp_methods").set_value(["gradient", "gradcam"]).run()
    app.slider(key="xp_rand_steps").set_value(1).run()
    app.button(key="xp_rand_run").click().run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    app.button(key="xp_curves_run").click().run()
    assert not app.exception
    frames = [d.value for d in app.dataframe]
    assert any("insertion − deletion ↑" in frame.columns for frame in frames)
    assert any("randomised down to" in frame.columns for frame in frames)


@pytest.mark.page
def test_face_expression_and_detection_modes(app, require_ready):
    require_ready("emotion")
    app.radio(key="xp_mode").set_value("Face expression").run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert app.selectbox(key="xp_face_target").value == 3  # "happy": the astronaut smiles
    assert len(app.get("plotly_chart")) == 3
    app.radio(key="xp_face_crop").set_value("Square I choose").run()
    app.slider(key="xp_face_side").set_value(512).run()  # as large as the photo: no room left to move it
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert {s.key for s in app.slider}.isdisjoint({"xp_face_x", "xp_face_y"})
    assert len(app.get("plotly_chart")) == 3
    app.radio(key="xp_face_crop").set_value("Whole image").run()
    require_ready("nanodet")
    app.radio(key="xp_mode").set_value("Detection box").run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert "cat" in app.selectbox(key="xp_det_box").format_func(0)
    assert len(app.get("plotly_chart")) == 2


def test_cli_writes_the_map_and_prints_json(tmp_path, cli):
    from PIL import Image
    from skimage import data

    image = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(image)
    out = tmp_path / "map.npy"
    done = cli("explain", str(image), "--target", "tabby", "--method", "integrated_gradients", "--steps", "16", "--out", str(out))
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["model"] == "mobilenet_v2" and facts["target"] == 281 and facts["target_name"] == "tabby"
    assert facts["method"] == "integrated_gradients" and facts["map_shape"] == [224, 224]
    assert facts["seconds"] > 0 and "convergence_delta" in facts
    saved = np.load(out)
    assert saved.shape == (224, 224) and saved.dtype == np.float32
    assert facts["value_range"] == pytest.approx([float(saved.min()), float(saved.max())], rel=1e-5)

    done = cli("explain", str(image), "--target", "top1", "--method", "lrp_gamma", "--model", "efficientnet_lite0")
    facts = json.loads(done.stdout)
    assert facts["conservation"]["ok"] and facts["target"] == facts["top5"][0]["index"]


def test_cli_errors_are_one_line(tmp_path, cli):
    from PIL import Image
    from skimage import data

    image = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(image)
    done = cli("explain", str(image), "--target", "cat", "--method", "gradcam")
    assert done.returncode == 2 and "several classes" in done.stderr
    done = cli("explain", str(image), "--method", "nonsense")
    assert done.returncode == 2 and "unknown method" in done.stderr
    done = cli("explain", str(tmp_path / "missing.png"))
    assert done.returncode == 2 and "no such file" in done.stderr
