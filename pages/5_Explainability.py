"""Explainability: what did the network look at? Occlusion, gradients, Grad-CAM and LRP, interactive."""

import streamlit as st

from cvdemo.ui import explain as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.views import show_views

page_setup(__file__)
st.title("🔥 Explainability — what did the network look at?")
st.caption("Pick a model, an image and a class; compare how occlusion (Zeiler & Fergus), image gradients "
           "(Simonyan et al.), SmoothGrad, Integrated Gradients, Grad-CAM and layer-wise relevance propagation "
           "(Lapuschkin et al.) answer — then check whether the maps can be trusted (sanity checks, faithfulness).")

show_views(view.VIEWS, "xp_mode")
