"""The live-video frame path, without a browser: processing, errors and the FPS readout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cvdemo.ui.live import _Holder, process_live_frame


def _frame() -> np.ndarray:
    return np.full((120, 160, 3), 200, dtype=np.uint8)


def test_readout_is_drawn_on_a_read_only_result():
    holder = _Holder()
    holder.process = lambda rgb: np.asarray(Image.fromarray(rgb))  # what PIL-drawn overlays return: read-only
    out = process_live_frame(holder, _frame())
    assert holder.error is None
    assert (out[2:10, 2:40] != 200).any(), "the FPS readout is missing"
    assert holder.stats.summary()[2] == 1


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
