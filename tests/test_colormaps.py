"""The app's one colour language: what each colour means, checked by hand-computed values."""

from __future__ import annotations

import re

import numpy as np

from cvdemo.colormaps import (DIVERGING_RGB, FACE_MATCH_LEGEND, SEQUENTIAL_RGB, colorize, is_flat, legend, overlay,
                              plotly_scale)


def test_signed_maps_diverge_around_a_white_zero_symmetrically():
    values = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]])
    colours = colorize(values, signed=True, limit=2.0)
    np.testing.assert_array_equal(colours[0, 2], DIVERGING_RGB[2].astype(np.uint8))  # zero: the middle, white
    np.testing.assert_array_equal(colours[0, 4], DIVERGING_RGB[-1].astype(np.uint8))  # +limit: the reddest
    np.testing.assert_array_equal(colours[0, 0], DIVERGING_RGB[0].astype(np.uint8))  # −limit: the bluest
    assert colours[0, 3, 0] > colours[0, 3, 2] and colours[0, 1, 2] > colours[0, 1, 0]  # +1 reddish, −1 bluish


def test_unsigned_maps_start_at_black():
    colours = colorize(np.array([[0.0, 1.0]]), signed=False, limit=1.0)
    np.testing.assert_array_equal(colours[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(colours[0, 1], SEQUENTIAL_RGB[-1].astype(np.uint8))


def test_zero_leaves_the_photo_as_it_is_in_an_overlay():
    photo = np.full((2, 2, 3), 120, np.uint8)
    values = np.array([[0.0, 1.0], [0.0, -1.0]])
    for signed in (True, False):
        drawn = overlay(photo, values, signed, opacity=0.8, limit=1.0)
        np.testing.assert_array_equal(drawn[0, 0], photo[0, 0])
        assert (drawn[0, 1] != photo[0, 1]).any()


def test_near_constant_maps_are_flat_and_drawn_without_contrast():
    rounding = 5.0 + np.random.default_rng(0).normal(0, 1e-6, (8, 8))  # float noise on a broadcast value
    assert is_flat(rounding) and is_flat(np.zeros((4, 4))) and is_flat(np.full((3, 3), np.nan))
    assert not is_flat(np.array([[0.0, 1e-3]]))
    colours = colorize(rounding, signed=False)
    assert len(np.unique(colours.reshape(-1, 3), axis=0)) == 1  # one colour, not a stretched pattern


def test_plotly_scales_avoid_streamlits_theme_placeholders():
    # Streamlit repaints #000001…#0000ff (red and green 0, blue > 0): Inferno's #000004 became pink.
    for signed in (True, False):
        for _, colour in plotly_scale(signed):
            assert not re.fullmatch(r"#0000(?!00)[0-9a-f]{2}", colour), colour


def test_legends_say_what_red_means():
    assert legend(True, "raises the cat score", "lowers it").startswith("Red: raises the cat score; blue: lowers it")
    assert legend(False, "the cell predicts cat").startswith("Bright: the cell predicts cat")
    assert FACE_MATCH_LEGEND.startswith("Red: supports the match")
