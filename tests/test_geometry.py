"""The shared 2-D size helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvdemo.geometry import pair


def test_pair_takes_one_number_or_two_as_torch_layers_do():
    assert pair(3) == (3, 3)
    assert pair((2, 5)) == (2, 5)
    assert pair([4]) == (4, 4)
    assert pair(torch.nn.Conv2d(1, 1, (3, 1)).kernel_size) == (3, 1)
    assert pair(torch.Size([7, 9])) == (7, 9)


def test_pair_refuses_three_numbers_naming_what_they_were():
    with pytest.raises(ValueError, match="stride must be one integer or two"):
        pair((1, 2, 3), "stride")


def test_letterbox_fits_a_tall_image_into_a_wide_input_and_maps_boxes_back():
    from cvdemo.geometry import Letterbox

    box = Letterbox.fit((400, 200), (256, 320))  # scale min(256/400, 320/200) = 0.64
    assert box.scale == 0.64 and box.resized == (256, 128) and box.pad == (96, 0)
    assert (box.pad_x, box.pad_y) == (96.0, 0.0)
    network = box.to_network(np.array([[0.0, 0.0, 200.0, 400.0]]))
    np.testing.assert_allclose(network, [[96, 0, 96 + 128, 256]], rtol=1e-6)
    # a box reaching into the margins is cut to the image only when asked, for NumPy and torch alike
    outside = np.array([[90.0, -5.0, 230.0, 250.0]], dtype=np.float32)
    np.testing.assert_allclose(box.to_image(outside), [[-6 / 0.64, -5 / 0.64, 134 / 0.64, 250 / 0.64]], rtol=1e-6)
    np.testing.assert_allclose(box.to_image(outside, clip=True), [[0, 0, 200, 250 / 0.64]], rtol=1e-6)
    np.testing.assert_allclose(box.to_image(torch.from_numpy(outside), clip=True).numpy(), [[0, 0, 200, 250 / 0.64]], rtol=1e-6)
