"""Gated-SCNN's shape stream illustrated: Sobel gradients, a mask's boundary band and the gate,
checked against scipy and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from cvdemo.segmentation import shape_stream as ss


def _disc_on_stripes(size: int = 96, radius: int = 22):
    """A dark disc (the "object") on a grey background whose left part carries vertical stripes
    (texture edges the object mask knows nothing about)."""
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size // 2) ** 2 + (xx - size // 2) ** 2 <= radius ** 2
    grey = np.full((size, size), 128.0)
    stripes = (xx < 18) & ((xx // 3) % 2 == 0)
    grey[stripes] = 200.0
    grey[disc] = 40.0
    image = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    return image, disc, stripes


def test_sobel_matches_scipy():
    image = np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    gx, gy = ss.sobel_gradients(luma)
    # scipy's "mirror" border is numpy's "reflect": the edge pixel is not repeated
    np.testing.assert_allclose(gx, ndimage.sobel(luma, axis=1, mode="mirror"), rtol=0, atol=1e-9)
    np.testing.assert_allclose(gy, ndimage.sobel(luma, axis=0, mode="mirror"), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ss.sobel_magnitude(image), np.hypot(gx, gy), rtol=0, atol=1e-9)


def test_sobel_of_a_step_by_hand():
    step = np.zeros((5, 6))
    step[:, 3:] = 10.0
    gx, gy = ss.sobel_gradients(step)
    # columns 2 and 3 straddle the step: (1 + 2 + 1) · (10 − 0) = 40; elsewhere nothing changes
    np.testing.assert_array_equal(gx[:, 2], 40.0)
    np.testing.assert_array_equal(gx[:, 3], 40.0)
    assert not gx[:, [0, 1, 4, 5]].any() and not gy.any()


def test_boundary_band_follows_the_euclidean_distance_to_the_edge():
    _, disc, _ = _disc_on_stripes()
    edges = ss.mask_edges(disc)
    distance = ndimage.distance_transform_edt(~edges)
    # OpenCV's precise distance transform is computed in float32
    np.testing.assert_allclose(ss.distance_to_edge(disc), distance, rtol=0, atol=1e-3)
    band = ss.boundary_band(disc, 4.0)
    np.testing.assert_allclose(band, np.exp(-distance ** 2 / 32.0), rtol=0, atol=1e-3)
    assert band[edges].min() == 1.0
    assert np.all(ss.boundary_band(np.zeros((4, 4), bool), 4.0) == 0.0)  # no object, no boundary


def test_gate_keeps_the_object_boundary_and_drops_the_texture():
    image, disc, stripes = _disc_on_stripes()
    weights = ss.GateWeights(shape=4.0, regular=10.0, bias=-7.0)
    result = ss.gate(image, disc, weights, band_width=3.0)
    # α at one pixel by hand: σ(w_s·s + w_r·r + b)
    y, x = 48, 48 + 22
    s, r = result.gradient[y, x], result.boundary[y, x]
    assert result.alpha[y, x] == pytest.approx(1 / (1 + math.exp(-(4 * s + 10 * r - 7))), abs=1e-12)
    # shares recomputed from the scipy pieces
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    magnitude = np.hypot(ndimage.sobel(luma, 1, mode="mirror"), ndimage.sobel(luma, 0, mode="mirror"))
    s_all = np.clip(magnitude / np.percentile(magnitude, 99), 0, 1)
    band = np.exp(-ndimage.distance_transform_edt(~ss.mask_edges(disc)) ** 2 / 18.0) >= 0.5
    alpha = 1 / (1 + np.exp(-(4 * s_all + 10 * np.exp(-ndimage.distance_transform_edt(~ss.mask_edges(disc)) ** 2 / 18.0) - 7)))
    assert result.boundary_share_before == pytest.approx(s_all[band].sum() / s_all.sum(), abs=1e-4)
    assert result.boundary_share_after == pytest.approx((s_all * alpha)[band].sum() / (s_all * alpha).sum(), abs=1e-4)
    # what the view claims: the gate opens on the object's edge and shuts on the stripes
    assert result.kept_on_boundary > 0.9
    stripe_edges = stripes | np.roll(stripes, 1, axis=1)
    assert result.kept(stripe_edges & ~result.on_boundary) < 0.05
    assert result.boundary_share_after > result.boundary_share_before + 0.3


def test_gate_rejects_a_mask_of_another_size():
    with pytest.raises(ValueError, match="differ in size"):
        ss.gate(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4), bool))
