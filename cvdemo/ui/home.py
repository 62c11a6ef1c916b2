"""The home page's sections: a card per feature page and the table of models and their weights."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cvdemo.registry import status_rows
from cvdemo.ui.pages import FEATURES

MODEL_COLUMNS = {"title": "model", "task": "task", "status": "status", "size_mb": "size (MB)", "source": "weights from",
                 "licence": "licence", "action": "to make it ready"}


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
                "(`python -m cvdemo weights fetch NAME`, or the button on each page).")
    table = pd.DataFrame(rows)[list(MODEL_COLUMNS)].rename(columns=MODEL_COLUMNS)
    st.dataframe(table, hide_index=True, width="stretch")
