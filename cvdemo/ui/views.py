"""One way to lay out a page: a row of views, one open at a time, each reachable by a link.

A page's module in ``cvdemo/ui/`` lists its views as ``VIEWS = {"Title": render, …}``, in the
order shown; the page file calls ``show_views(VIEWS, key=…)``. Adding a view is adding one entry.
``cvdemo.ui.pages.view_link("Detection", "NMS & IoU")`` is the URL that opens that view
(``/Detection?view=nms-iou``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from cvdemo.ui.pages import VIEW_PARAMETER, slug


def show_views(views: Mapping[str, Callable[..., Any]], key: str, *args: Any) -> None:
    """A picker over ``views`` and the open one drawn below it; only the open view runs.

    ``?view=<slug>`` in the URL opens that view, and picking another view puts its slug in the
    URL so that the address bar can be copied as a link. ``args`` go to the open view.
    """
    titles = list(views)
    by_slug = {slug(title): title for title in titles}
    if len(by_slug) != len(titles):
        raise ValueError(f"two views of {key} share a link: {titles}")
    linked_key = f"{key}__linked"  # the slug last read from or written to the URL
    # A title works as well as its slug, so links written before slugs keep opening their view.
    requested = slug(st.query_params.get(VIEW_PARAMETER) or "")
    if requested in by_slug and requested != st.session_state.get(linked_key):
        st.session_state[key] = by_slug[requested]
    if st.session_state.get(key) not in views:
        st.session_state.pop(key, None)
    title = st.radio("View", titles, key=key, horizontal=True, label_visibility="collapsed")
    opened = slug(title)
    st.session_state[linked_key] = opened
    if opened == slug(titles[0]):
        st.query_params.pop(VIEW_PARAMETER, None)
    elif st.query_params.get(VIEW_PARAMETER) != opened:
        st.query_params[VIEW_PARAMETER] = opened
    views[title](*args)
