"""Entry point: `streamlit run app.py`. The pages, their titles and icons are listed in cvdemo/ui/pages.py."""

import streamlit as st

from cvdemo.ui.common import preload_default_models
from cvdemo.ui.pages import FEATURES, HOME

preload_default_models()

navigation = st.navigation(
    [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(page.path, title=page.title, icon=page.icon) for page in FEATURES]
)
navigation.run()
