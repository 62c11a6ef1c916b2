"""Deep links into the pages' views and the Home page's "find a concept" search.

A link is ``/<page>?view=<view's slug>`` (:func:`cvdemo.concepts.link`); each page's
:func:`cvdemo.ui.views.show_views` opens the linked view once, and the student's own clicks win afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from cvdemo import concepts
from cvdemo.ui.pages import ALL, VIEW_PARAMETER, slug

MAX_HITS = 12


def views_of(page: str) -> tuple[str, ...]:
    """The views a page offers, as its selector labels them."""
    from cvdemo.ui import architectures, detection, explain, faces, gan, segmentation

    views: dict[str, Mapping[str, object]] = {  # annotated: mypy joins the pages' different VIEWS to object
        concepts.DETECTION: detection.VIEWS,
        concepts.SEGMENTATION: segmentation.VIEWS,
        concepts.FACES: faces.VIEWS,
        concepts.GAN: gan.VIEWS,
        concepts.EXPLAIN: explain.VIEWS,
        concepts.ARCH: architectures.VIEWS,
    }
    return tuple(views[page])


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
                     # a page without a named view opens at its first (as concepts.link does)
                     query_params={VIEW_PARAMETER: slug(concept.section)} if concept.section else None,
                     help=concept.lecture)
    if len(hits) > MAX_HITS:
        st.caption(f"{len(hits) - MAX_HITS} more: add a word to narrow the search.")
