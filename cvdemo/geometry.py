"""Small geometry shared by the models and the views: 2-D sizes given as one number or two."""

from __future__ import annotations

from collections.abc import Sequence

Pair = int | Sequence[int]


def pair(value: Pair, what: str = "size") -> tuple[int, int]:
    """``(rows, cols)`` from one integer or a sequence of one or two, as torch's 2-D layers take them."""
    if isinstance(value, (tuple, list)):  # torch.Size is a tuple
        if len(value) not in (1, 2):
            raise ValueError(f"{what} must be one integer or two, got {value!r}")
        return int(value[0]), int(value[-1])
    return int(value), int(value)
