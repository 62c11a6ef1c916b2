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
def test_opening_shows_grad_cam_alone_with_a_legend_in_words(app):
    assert len(app.get("plotly_chart")) == 1  # one fast map on opening; the others when picked
    assert app.multiselect(key="xp_methods").value == ["gradcam"]
    table = app.dataframe[0].value
    top = table["class"].iloc[0]
    assert top in {"Egyptian cat", "tabby", "tiger cat"}
    assert app.selectbox(key="xp_target").value == int(table["index"].iloc[0])  # top-1 by default
    assert any(c.startswith("Bright: evidence for “" + top) for c in _captions(app))  # ReLU'd Grad-CAM: a magnitude
    assert len(app.get("download_button")) == 2  # PNG and .npy
    layer = app.selectbox(key="xp_cam_layer")
    assert layer.value == "features" and layer.format_func(layer.value).startswith("stride 32, 7×7 · ReLU6")
    assert all(option.startswith("stride ") for option in layer.options)  # AppTest lists the shown labels


@pytest.mark.page
def test_occlusion_and_target_change(app):
    app.multiselect(key="xp_methods").set_value(["occlusion", "integrated_gradients"]).run()
    app.slider(key="xp_patch").set_value(56).run()
    app.slider(key="xp_stride").set_value(56).run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    captions = " ".join(_captions(app))
    assert "incremental (exact)" in captions and "16 patch positions" in captions
    assert "Completeness: Σ attribution" in captions and "passes" in captions  # IG raised its steps until it did
    assert any(c.startswith("Red: evidence for “") for c in _captions(app))  # signed maps say what red means
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
    app.multiselect(key="xp_methods").set_value(["saliency", "gradcam"]).run()
    app.slider(key="xp_rand_steps").set_value(1).run()
    app.button(key="xp_rand_run").click().run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    app.button(key="xp_curves_run").click().run()
    assert not app.exception
    frames = [d.value for d in app.dataframe]
    assert any("insertion − deletion ↑" in frame.columns for frame in frames)
    randomised = next(frame for frame in frames if "randomised down to" in frame.columns)
    assert {"Saliency (gradient)", "Grad-CAM"} <= set(randomised.columns)  # the page's names, not internal ones
    assert "gradcam" not in randomised.columns


@pytest.mark.page
def test_face_expression_and_detection_modes(app, require_ready):
    require_ready("emotion")
    app.radio(key="xp_mode").set_value("Face expression").run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert app.selectbox(key="xp_face_target").value == 3  # "happy": the astronaut smiles
    assert len(app.get("plotly_chart")) == 1
    app.radio(key="xp_face_crop").set_value("Square I choose").run()
    app.slider(key="xp_face_side").set_value(512).run()  # as large as the photo: no room left to move it
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert {s.key for s in app.slider}.isdisjoint({"xp_face_x", "xp_face_y"})
    assert len(app.get("plotly_chart")) == 1
    app.radio(key="xp_face_crop").set_value("Whole image").run()
    require_ready("nanodet")
    app.radio(key="xp_mode").set_value("Detection box").run()
    app.selectbox(key="xp_det_model").set_value("nanodet").run()  # its 13×13 level holds the cat's box
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert "cat" in app.selectbox(key="xp_det_box").format_func(0)
    assert app.multiselect(key="xp_det_methods").value == ["layercam"]
    assert len(app.get("plotly_chart")) == 1  # the box's head level: a map, not a flat wash
    layer = app.selectbox(key="xp_det_cam_layer")
    assert layer.format_func(layer.value).startswith("stride 32 head, 13×13")


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

    assert facts["conservation"]["compared_with"] == "score gap f(x) − f(x′)"

    done = cli("explain", str(image), "--target", "top1", "--method", "lrp_gamma", "--model", "efficientnet_lite0")
    facts = json.loads(done.stdout)
    assert facts["conservation"]["ok"] and facts["target"] == facts["top5"][0]["index"]


def test_cli_lists_every_method(cli):
    done = cli("explain", "--list-methods")
    assert done.returncode == 0, done.stderr
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    from cvdemo.explain import METHODS

    assert set(listed) == set(METHODS)
    assert listed["gradcam"]["engine"] == "captum LayerGradCam" and listed["gradcam"]["live"]
    assert listed["integrated_gradients"]["completeness_check"] and not listed["integrated_gradients"]["live"]


def test_cli_explains_a_detection_box(tmp_path, require_ready, cli):
    from PIL import Image
    from skimage import data

    require_ready("nanodet")
    image = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(image)
    out = tmp_path / "box.npy"
    done = cli("explain", str(image), "--model", "nanodet", "--target", "box:0", "--out", str(out))
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["box_label"] == "cat" and facts["method"] == "layercam" and "stride 32 head" in facts["explained"]
    saved = np.load(out)
    assert saved.shape == (416, 416) and saved.max() > 0  # not the all-zero map of the issue
    done = cli("explain", str(image), "--model", "nanodet", "--target", "box:99")
    assert done.returncode == 2 and "box:99" in done.stderr
    done = cli("explain", str(image), "--model", "nanodet", "--target", "cat")
    assert done.returncode == 2 and "box:N" in done.stderr


def test_cli_explains_a_face_pair(require_ready, cli):
    require_ready("dlib_resnet")
    require_ready("mtcnn")
    images = ROOT.parent / "shared" / "facedata" / "images"
    if not images.is_dir():
        pytest.skip("../shared/facedata is not present")
    from cvdemo.colormaps import FACE_MATCH_LEGEND

    done = cli("explain", str(images / "obama.jpg"), "--pair", str(images / "obama2.jpg"), "--method", "input_x_gradient")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["model"] == "dlib_resnet" and facts["map_shape"] == [150, 150] and facts["target"] is None
    assert facts["legend"] == FACE_MATCH_LEGEND  # the Face verification page's words
    assert -0.6 < facts["output"] < 0  # −distance of the same person: below dlib's threshold


def test_cli_errors_are_one_line(tmp_path, cli):
    from PIL import Image
    from skimage import data

    image = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(image)
    done = cli("explain", str(image), "--target", "cat", "--method", "gradcam")
    assert done.returncode == 2 and "several classes" in done.stderr
    done = cli("explain", str(image), "--method", "nonsense")
    assert done.returncode == 2 and "unknown method" in done.stderr
    done = cli("explain", str(image), "--method", "saliency", "--steps", "8")
    assert done.returncode == 2 and "--steps does not apply to saliency" in done.stderr
    done = cli("explain", str(tmp_path / "missing.png"))
    assert done.returncode == 2 and "no such file" in done.stderr
