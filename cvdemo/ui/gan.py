"""Streamlit glue for the GAN page: per-session memo of results and progress bars."""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import streamlit as st

from cvdemo.gan.sampling import MAX_SEED
from cvdemo.ui.common import in_session_memo, session_memo

T = TypeVar("T")
MEMO_ENTRIES = 16  # a 64-face grid is ~0.8 MB: a few per session is cheap, unbounded is not


def remember(key: tuple, compute: Callable[[], T]) -> T:
    """The last few results of this session, so moving a slider elsewhere does not regenerate.

    Not ``st.cache_data``: the computations report progress to a bar created outside them, which
    a cached function would replay on every hit.
    """
    return session_memo("gan", key, compute, size=MEMO_ENTRIES)


def remembered(key: tuple) -> bool:
    return in_session_memo("gan", key)


@contextmanager
def progress_bar(text: str) -> Iterator[Callable[[int, int], None]]:
    """A bar for work that takes more than a moment; removed when the work is done."""
    bar = st.progress(0.0, text=text)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=f"{text} {done}/{total}")

    try:
        yield update
    finally:
        bar.empty()


def new_seed(key: str = "gan_seed") -> None:
    """Button callback: a fresh random seed (callbacks run before widgets are created)."""
    st.session_state[key] = random.randint(0, min(MAX_SEED, 999_999))


def select_from_chart(chart_key: str, face_key: str) -> None:
    """Plotly on_select callback: a click on the grid chooses that face."""
    event = st.session_state.get(chart_key)
    if not event:
        return
    selection = event.get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    points = selection.get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    for point in points:
        index = point.get("customdata")
        if isinstance(index, list):  # plotly sends customdata as a list for array-valued data
            index = index[0] if index else None
        if index is None:
            index = point.get("point_index")
        if point.get("curve_number", 1) == 1 and index is not None:
            st.session_state[face_key] = int(index)
            return
