"""Deep links into the pages' views and the Home page's "find a concept" search.

A link is ``/<page>?view=<section>`` (:func:`cvdemo.concepts.link`). Each page calls
:func:`open_linked_view` with the session key of its view selector before drawing it, so that a
link opens the view once and the student's own clicks win afterwards.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from cvdemo import concepts
from cvdemo.ui.pages import ALL

MAX_HITS = 12


def open_linked_view(key: str, views: Sequence[str]) -> None:
    """Select the view named by the ``view`` query parameter, once per link followed."""
    wanted = st.query_params.get("view")
    opened = f"_linked_{key}"
    if wanted in views and st.session_state.get(opened) != wanted:
        st.session_state[key] = wanted
        st.session_state[opened] = wanted


def views_of(page: str) -> tuple[str, ...]:
    """The views a page offers, as its selector labels them."""
    from cvdemo.ui import architectures, detection, explain, faces, gan, segmentation

    return tuple({
        concepts.DETECTION: detection.TABS,
        concepts.SEGMENTATION: segmentation.MODES,
        concepts.FACES: faces.MODES,
        concepts.GAN: gan.VIEWS,
        concepts.EXPLAIN: explain.MODES,
        concepts.ARCH: architectures.VIEWS,
    }[page])


def concept_search() -> None:
    query = st.text_input("🔎 Find a concept", key="home_concept_query", placeholder="e.g. RoI pooling, triplet, residual, mIoU",
                          help=f"Searches the {len(concepts.CONCEPTS)} concepts of the five lecture decks; "
                               "each result opens the page and view that demonstrates it.")
    if not query.strip():
        return
    hits = concepts.search(query)
    if not hits:
        st.caption("No concept of the lectures matches. Try fewer or shorter words.")
        return
    files = {page.title: page.file for page in ALL}
    for concept in hits[:MAX_HITS]:
        if concept.page is None:
            st.markdown(f"**{concept.concept}** — no view yet · _{concept.lecture}_")
            continue
        st.page_link(f"pages/{files[concept.page]}", label=f"{concept.concept} → {concept.page} › {concept.section}",
                     query_params={"view": concept.section}, help=concept.lecture)
    if len(hits) > MAX_HITS:
        st.caption(f"{len(hits) - MAX_HITS} more: add a word to narrow the search.")
