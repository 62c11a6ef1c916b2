"""The live-video frame path, without a browser: processing, errors and the FPS readout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cvdemo.ui.live import _Holder, process_live_frame, readout_text


def _frame() -> np.ndarray:
    return np.full((120, 160, 3), 200, dtype=np.uint8)


def test_the_picture_carries_no_readout_and_the_results_go_to_the_table():
    holder = _Holder()
    rows = [{"class": "person", "count": 1, "best score": 0.9}]
    holder.process = lambda rgb: (np.asarray(Image.fromarray(rgb)), rows)  # read-only, as PIL-drawn overlays are
    frame = _frame()
    out = process_live_frame(holder, frame)
    assert holder.error is None
    np.testing.assert_array_equal(out, frame)  # nothing drawn over the top-left box label or class name
    assert holder.rows == rows
    assert holder.stats.summary()[2] == 1
    assert "1 frames processed" in readout_text(holder)
    assert readout_text(holder, "ONNX Runtime").endswith("· network on ONNX Runtime")


def test_live_detection_table_counts_boxes_per_class():
    from cvdemo.detection.pipeline import class_summary
    from cvdemo.results import Detections

    detections = Detections(np.zeros((3, 4)), np.array([0.5, 0.9, 0.7]), np.array([0, 0, 1]), ["person", "cat"], (10, 10))
    assert class_summary(detections) == [{"class": "person", "count": 2, "best score": 0.9},
                                         {"class": "cat", "count": 1, "best score": 0.7}]


def test_a_failing_processor_keeps_the_stream_and_reports_the_error():
    holder = _Holder()

    def broken(rgb):
        raise ValueError("no face model")

    holder.process = broken
    out = process_live_frame(holder, _frame())
    assert out.shape == (120, 160, 3)
    assert holder.error == "ValueError: no face model"


def _snapshot_page():
    import numpy as np  # noqa: F401 (AppTest runs this function's body on its own)

    from cvdemo.ui.live import live_video

    def broken(rgb: np.ndarray) -> np.ndarray:
        raise RuntimeError("the model ran out of memory")

    live_video("t", broken)


@pytest.mark.page
def test_a_failing_processor_on_a_snapshot_shows_a_message():
    import io

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_snapshot_page, default_timeout=60)
    at.session_state["t_mode"] = "Snapshot"
    at.run()
    buffer = io.BytesIO()
    Image.fromarray(_frame()).save(buffer, format="JPEG")
    at.camera_input[0].set_value(("snapshot.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert any("Could not process the snapshot" in e.value and "out of memory" in e.value for e in at.error)
