"""Explainability: what did the network look at? 24 attribution methods, interactive."""

import streamlit as st

from cvdemo.ui import explain as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.views import show_views

page_setup(__file__)
st.title("🔥 Explainability — what did the network look at?")
st.caption("Pick a model, an image and a class. Grad-CAM shows first; add any of 24 methods to compare — captum's "
           "gradients, path and perturbation methods, Grad-CAM++/LayerCAM/EigenCAM, exact occlusion and LRP — then "
           "check whether the maps can be trusted (completeness, sanity checks, faithfulness).")

show_views(view.VIEWS, "xp_mode")
