"""Entry point: `streamlit run app.py`. The pages, their titles and icons are listed in cvdemo/ui/pages.py."""

import streamlit as st

from cvdemo.ui.pages import FEATURES, HOME

navigation = st.navigation(
    [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(page.path, title=page.title, icon=page.icon) for page in FEATURES]
)
navigation.run()
