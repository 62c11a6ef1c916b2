"""Entry point: `streamlit run app.py`. Every `pages/N_Name.py` file becomes a page."""

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).parent / "pages"

home, *features = sorted(PAGES_DIR.glob("[0-9]*_*.py"))
navigation = st.navigation(
    [st.Page(home, title="Home", icon="🔍", default=True)] + [st.Page(page) for page in features]
)
navigation.run()
