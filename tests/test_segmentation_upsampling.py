"""Transposed convolution three ways against PyTorch, the lecture's example, checkerboards, atrous taps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvdemo.segmentation import upsampling as up


def torch_transposed(x, k, stride, padding):
    return F.conv_transpose2d(torch.from_numpy(np.asarray(x, np.float64))[None, None],
                              torch.from_numpy(np.ascontiguousarray(k, np.float64))[None, None],
                              stride=stride, padding=padding)[0, 0].numpy()


def test_lecture_worked_example_is_stride_1_padding_0_and_exact():
    ex = up.WORKED_EXAMPLE
    np.testing.assert_array_equal(ex.input, [[2, 1], [4, 4]])
    np.testing.assert_array_equal(ex.kernel, [[1, 4, 1], [1, 4, 3], [3, 3, 1]])
    assert (ex.stride, ex.padding) == (1, 0)
    expected = np.array([[2, 9, 6, 1], [6, 29, 30, 7], [10, 29, 33, 13], [12, 24, 16, 4]], dtype=np.float64)
    np.testing.assert_array_equal(ex.output, expected)
    np.testing.assert_array_equal(up.transposed_conv_via_matrix(ex.input, ex.kernel, 1, 0), expected)
    np.testing.assert_array_equal(up.transposed_conv_via_zero_insertion(ex.input, ex.kernel, 1, 0)[1], expected)
    np.testing.assert_array_equal(up.transposed_conv_scatter(ex.input, ex.kernel, 1, 0), expected)
    np.testing.assert_array_equal(torch_transposed(ex.input, ex.kernel, 1, 0), expected)


def test_only_stride_1_padding_0_reproduces_the_lectures_output():
    ex = up.WORKED_EXAMPLE
    matches = []
    for stride in (1, 2, 3):
        for padding in (0, 1, 2):
            try:
                out = up.transposed_conv_via_matrix(ex.input, ex.kernel, stride, padding)
            except ValueError:
                continue
            if out.shape == ex.output.shape and np.array_equal(out, ex.output):
                matches.append((stride, padding))
    assert matches == [(1, 0)]
    assert up.transposed_output_size(2, 3, 2, 0) == 5  # the common guess, stride 2, would give 5×5
    assert up.transposed_output_size(2, 3, 3, 1) == 4  # right size, wrong numbers (no overlap at all)


def test_worked_example_matrix_is_16x4_and_its_columns_are_the_painted_kernels():
    ex = up.WORKED_EXAMPLE
    matrix = up.transposed_conv_matrix((2, 2), ex.kernel, 1, 0)
    assert matrix.shape == (16, 4)
    # Column 0 = input pixel (0, 0): the kernel pasted at the top-left of the 4×4 output.
    top_left = np.zeros((4, 4))
    top_left[:3, :3] = ex.kernel
    np.testing.assert_array_equal(matrix[:, 0].reshape(4, 4), top_left)
    bottom_right = np.zeros((4, 4))
    bottom_right[1:, 1:] = ex.kernel
    np.testing.assert_array_equal(matrix[:, 3].reshape(4, 4), bottom_right)


def test_three_formulations_match_conv_transpose2d_on_random_cases():
    rng = np.random.default_rng(1234)
    checked = 0
    while checked < 150:
        in_h, in_w = rng.integers(1, 7, size=2)
        k_h, k_w = rng.integers(1, 6, size=2)
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = (int(rng.integers(0, k_h + 1)), int(rng.integers(0, k_w + 1)))
        try:
            out_shape = up.output_shape((in_h, in_w), (k_h, k_w), stride, padding)
        except ValueError:
            continue
        x = rng.normal(size=(in_h, in_w))
        k = rng.normal(size=(k_h, k_w))
        reference = torch_transposed(x, k, stride, padding)
        assert reference.shape == out_shape
        np.testing.assert_allclose(up.transposed_conv_via_matrix(x, k, stride, padding), reference, atol=1e-10)
        np.testing.assert_allclose(up.transposed_conv_via_zero_insertion(x, k, stride, padding)[1], reference, atol=1e-10)
        np.testing.assert_allclose(up.transposed_conv_scatter(x, k, stride, padding), reference, atol=1e-10)
        checked += 1


def test_matrix_is_the_transpose_of_the_convolution_it_undoes():
    """Uᵀ's transpose U must be conv2d from the big map back to the small one (the adjoint)."""
    rng = np.random.default_rng(7)
    for in_shape, kernel_size, stride, padding in [((3, 4), 3, 2, 1), ((2, 2), 4, 2, 1), ((4, 3), 2, 2, 0), ((3, 3), 5, 3, 2)]:
        k = rng.normal(size=(kernel_size, kernel_size))
        out_shape = up.output_shape(in_shape, k.shape, stride, padding)
        big = rng.normal(size=out_shape)
        u = up.convolution_matrix(in_shape, k, stride, padding)
        conv = F.conv2d(torch.from_numpy(big)[None, None], torch.from_numpy(k)[None, None], stride=stride, padding=padding)[0, 0].numpy()
        assert conv.shape == tuple(in_shape)
        np.testing.assert_allclose(u @ big.ravel(), conv.ravel(), atol=1e-10)
        np.testing.assert_array_equal(up.transposed_conv_matrix(in_shape, k, stride, padding), u.T)


def test_zero_insertion_layout():
    expanded = up.zero_insert(np.array([[1, 2], [3, 4]]), stride=2, kernel_shape=(3, 3), padding=1)
    # 1 zero between pixels (stride 2), k - 1 - p = 1 zero around.
    np.testing.assert_array_equal(expanded, [[0, 0, 0, 0, 0], [0, 1, 0, 2, 0], [0, 0, 0, 0, 0], [0, 3, 0, 4, 0], [0, 0, 0, 0, 0]])


def test_padding_that_crops_everything_is_a_clear_error():
    with pytest.raises(ValueError, match="crops the whole output"):
        up.output_shape((1, 1), (1, 1), 1, 1)
    with pytest.raises(ValueError, match="stride"):
        up.output_shape((2, 2), (3, 3), 0, 0)


@pytest.mark.parametrize("kernel,stride,expected", [(3, 2, 4.0), (4, 2, 1.0), (2, 2, 1.0), (5, 2, 2.25), (3, 3, 1.0), (6, 3, 1.0), (1, 2, float("inf"))])
def test_checkerboard_appears_exactly_when_kernel_is_not_a_multiple_of_stride(kernel, stride, expected):
    # Per axis a pixel gets ceil(k/s) or floor(k/s) taps; in 2-D the ratio is squared: (2/1)² = 4 for
    # k=3, s=2, (3/2)² = 2.25 for k=5, s=2; a stride above the kernel leaves pixels with none.
    counts = up.overlap_counts((8, 8), kernel, stride)
    assert up.unevenness(counts, kernel) == pytest.approx(expected)


def test_overlap_counts_k3_s2_pattern_and_resize_conv_is_flat():
    counts = up.overlap_counts((6, 6), 3, 2)
    core = up.interior(counts, 3)
    assert set(np.unique(core)) == {1.0, 2.0, 4.0}
    # The 1-D saw-tooth: contributions alternate 1, 2 along a row crossing odd rows.
    row = counts[3, 3:9]
    assert list(row) in ([1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1])
    resized = up.resize_conv_counts((6, 6), 3, 2)
    assert up.unevenness(resized, 3) == pytest.approx(1.0)
    assert up.interior(resized, 3).max() == 9  # k² taps everywhere inside


def test_stacked_layers_keep_the_checkerboard_and_resize_conv_stays_flat():
    assert up.unevenness(up.overlap_counts((6, 6), 3, 2, layers=2), 6) > 1.5
    assert up.unevenness(up.resize_conv_counts((6, 6), 3, 2, layers=2), 6) == pytest.approx(1.0)


def test_unpooling_examples():
    x = np.array([[1, 5, 0, 2], [3, 4, 9, 1], [0, 0, 1, 1], [7, 2, 1, 8]], dtype=np.float64)
    result = up.unpooling_examples(x)
    np.testing.assert_array_equal(result["pooled"], [[5, 9], [7, 8]])
    np.testing.assert_array_equal(result["nearest neighbour"][:2, :2], [[5, 5], [5, 5]])
    np.testing.assert_array_equal(result["bed of nails"], [[5, 0, 9, 0], [0, 0, 0, 0], [7, 0, 8, 0], [0, 0, 0, 0]])
    # Max unpooling puts each maximum back where it was, zeros elsewhere.
    np.testing.assert_array_equal(result["max unpooling"], np.where(np.isin(x, [5, 9, 7, 8]) & (x > 4), x, 0))


@pytest.mark.parametrize("rate", [1, 6, 12, 18])
def test_atrous_taps_match_a_dilated_convolution_of_an_impulse(rate):
    offsets = up.atrous_offsets(rate)
    assert len(offsets) == 9 and up.atrous_extent(rate) == 2 * rate + 1
    size = 2 * rate + 5
    impulse = torch.zeros(1, 1, size, size, dtype=torch.float64)
    centre = size // 2
    impulse[0, 0, centre, centre] = 1
    response = F.conv2d(impulse, torch.ones(1, 1, 3, 3, dtype=torch.float64), padding=rate, dilation=rate)[0, 0].numpy()
    taps = {(int(dy), int(dx)) for dy, dx in np.argwhere(response > 0) - centre}
    assert taps == {(int(dy), int(dx)) for dy, dx in offsets}
    grid = up.atrous_grid(rate, 3, size)
    assert grid.sum() == 9
    assert {(int(dy), int(dx)) for dy, dx in np.argwhere(grid) - (size - 1) // 2} == taps


def test_atrous_footprints_are_drawn_at_the_taps_without_touching_the_input():
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    drawn = up.draw_atrous_footprints(image, (200, 200), [6], cell_pixels=8)
    assert image.max() == 0
    colour = up.rate_colour(6)
    for dy, dx in up.atrous_offsets(6) * 8:
        assert tuple(drawn[int(200 + dy), int(200 + dx)]) == colour
    assert tuple(drawn[200 + 24, 200 + 24]) == (0, 0, 0)  # between taps stays untouched
