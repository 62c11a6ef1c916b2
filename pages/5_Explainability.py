"""Explainability: what did the network look at? 24 attribution methods, interactive."""

import streamlit as st

from cvdemo.ui import explain as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.concepts import open_linked_view

page_setup(__file__)
st.title("🔥 Explainability — what did the network look at?")
st.caption("Pick a model, an image and a class. Grad-CAM shows first; add any of 24 methods to compare — captum's "
           "gradients, path and perturbation methods, Grad-CAM++/LayerCAM/EigenCAM, exact occlusion and LRP — then "
           "check whether the maps can be trusted (completeness, sanity checks, faithfulness).")

open_linked_view("xp_mode", view.MODES)
mode = st.radio("Explain", view.MODES, key="xp_mode", horizontal=True, label_visibility="collapsed")

if mode == "ImageNet classifier":
    view.classifier_section()
elif mode == "Face expression":
    view.expression_section()
elif mode == "Detection box":
    view.detection_section()
elif mode == "Face verification":
    view.verification_section()
else:
    view.live_section()
