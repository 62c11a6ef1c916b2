"""The home page's sections: a card per feature page and the table of models and their weights."""

from __future__ import annotations

import streamlit as st

from cvdemo.registry import status_rows
from cvdemo.ui.pages import FEATURES
from cvdemo.ui.prepare import prepare_for_class, show_model_tables


def feature_cards() -> None:
    columns = st.columns(3)
    for index, feature in enumerate(FEATURES):
        with columns[index % 3].container(border=True):
            st.page_link(f"pages/{feature.file}", label=feature.title, icon=feature.icon)
            st.caption(feature.pitch)


def models_section() -> None:
    st.subheader("Models")
    rows = status_rows()
    ready = sum(row["status"] == "ready" for row in rows)
    st.markdown(f"**{ready} of {len(rows)}** models are ready offline on this machine. "
                "Downloadable ones come from the torchvision zoo once you are online "
                "(`python -m cvdemo weights fetch NAME`, the button on each page, or all at once below).")
    with st.container(border=True):
        st.markdown("**Prepare for class**")
        prepare_for_class()
    show_model_tables(rows)
