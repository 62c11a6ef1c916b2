"""Entry point: `streamlit run app.py`. The pages, their titles and icons are listed in cvdemo/ui/pages.py."""

import os
import sys

# Torch's OpenMP threads otherwise spin between ops and take the cores aiortc's video threads
# need; libgomp reads this once, when torch is first imported (below).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Eager torch hands the GIL back on every op; with the video threads busy, the default 5 ms
# switch interval made each op wait its turn (the issue: 375 ms a NanoDet pass, 64 ms at 0.5 ms).
sys.setswitchinterval(5e-4)

import streamlit as st  # noqa: E402  (after the thread settings above)

from cvdemo.ui.common import preload_default_models  # noqa: E402
from cvdemo.ui.pages import FEATURES, HOME  # noqa: E402

preload_default_models()

navigation = st.navigation(
    [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(page.path, title=page.title, icon=page.icon) for page in FEATURES]
)
navigation.run()
