"""Small things a newcomer saw: labels cut at the edge, "1 people", tiny pictures accepted silently."""

from __future__ import annotations

import pytest

import numpy as np
from streamlit.testing.v1 import AppTest

from cvdemo.faces.draw import annotate
from cvdemo.ui.common import counted

TAG = (255, 200, 0)


def test_a_face_label_at_the_edge_stays_whole_inside_the_picture():
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    box = [250, 170, 299, 199]  # at the bottom-right corner: no room above-left rules, none below
    drawn = annotate(image, [box], labels=["Grace Hopper 0.31"], colours=[TAG])
    tag = np.all(drawn == TAG, axis=2)
    columns = np.flatnonzero(tag.any(axis=0))
    # the tag is much wider than the 50 px box, so it must have slid left to fit
    assert columns.min() < 250 - 50 and columns.max() <= 299
    alone = annotate(image, [box], colours=[TAG])
    assert tag.sum() > np.all(alone == TAG, axis=2).sum() * 2  # a filled tag, not just the box outline


def test_counts_read_as_english():
    assert counted(1, "person", "people") == "1 person"
    assert counted(2, "person", "people") == "2 people"
    assert counted(0, "photo") == "0 photos" and counted(1, "photo") == "1 photo"


def _tiny_picture_page():
    import numpy as np

    import streamlit as st

    from cvdemo.images import size_note

    for picture, name in ((np.zeros((1, 1, 3), np.uint8), "dot.png"), (np.zeros((480, 640, 3), np.uint8), "photo.png")):
        if note := size_note(picture, name):
            st.warning(note)


@pytest.mark.page
def test_a_one_pixel_picture_gets_a_too_small_note():
    at = AppTest.from_function(_tiny_picture_page).run()
    assert len(at.warning) == 1 and "dot.png is only 1×1 pixels" in at.warning[0].value
