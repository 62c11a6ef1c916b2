"""The live-video frame path, without a browser: processing, errors and the FPS readout."""

from __future__ import annotations

import numpy as np
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
