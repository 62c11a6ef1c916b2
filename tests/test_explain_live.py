"""The live explain view: one webcam frame → the network's view, the top-1 label and its map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvdemo.explain import LIVE_METHODS, AttributionError
from cvdemo.explain.live import SHOWN_SIZE, explain_frame


@pytest.fixture(scope="module")
def cat_beside_a_wall(chelsea):
    """A 640×320 frame: a plain grey wall on the left half, the cat on the right half."""
    frame = np.full((320, 640, 3), 128, dtype=np.uint8)
    frame[:, 320:] = cv2.resize(chelsea, (320, 320), interpolation=cv2.INTER_AREA)
    return frame


@pytest.mark.parametrize("method", LIVE_METHODS)
def test_the_map_lies_over_the_cat_and_the_label_is_drawn(mobilenet, cat_beside_a_wall, method):
    shown = explain_frame(mobilenet, cat_beside_a_wall, method, opacity=0.6)
    plain = explain_frame(mobilenet, cat_beside_a_wall, method, opacity=0.0)
    assert shown.shape == (SHOWN_SIZE, SHOWN_SIZE, 3) and shown.dtype == np.uint8
    change = np.abs(shown.astype(int) - plain.astype(int)).sum(axis=2)
    below_label = change[60:]
    middle = SHOWN_SIZE // 2  # the wall/cat border sits in the middle of the centre crop
    wall, cat = below_label[:, : middle - 20].mean(), below_label[:, middle + 20:].mean()
    assert cat > 2 * wall, (method, wall, cat)
    # The label (white text with a dark outline) is on both, at the top left.
    for image in (shown, plain):
        assert (image[5:40, 10:200] == 255).all(axis=2).sum() > 50


def test_slow_methods_are_refused_for_live_video(mobilenet, chelsea):
    with pytest.raises(AttributionError, match="too slow for live video"):
        explain_frame(mobilenet, chelsea, "occlusion")
