"""The shared 2-D size helper."""

from __future__ import annotations

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
