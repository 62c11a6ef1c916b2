"""Architectures and training: the table, receptive fields, convolutionalization, augmentation, transfer learning."""

import streamlit as st

from cvdemo.ui import architectures as view
from cvdemo.ui.arithmetic_view import arithmetic_section
from cvdemo.ui.clever_hans_view import clever_hans_section
from cvdemo.ui.common import page_setup
from cvdemo.ui.generalization_view import generalization_section
from cvdemo.ui.residuals_view import residuals_section

page_setup(__file__)
st.title("🏛️ Architectures and training")
st.caption("Why networks look the way they do: AlexNet → VGG → Inception → ResNet → MobileNet measured, "
           "receptive fields on your photo, classifiers turned into FCNs, augmentation, and transfer learning in seconds.")

# Bound to the URL (?view=…) so that each view can be linked to from the lectures.
mode = st.radio("View", view.VIEWS, key="view", horizontal=True, label_visibility="collapsed", bind="query-params")

if mode == "Layer explorer":
    view.layers_section()
elif mode == "Convolutionalization":
    view.convolutionalization_section()
elif mode == "Augmentation":
    view.augmentation_section()
elif mode == "Transfer learning":
    view.transfer_section()
elif mode == "Arithmetic":
    arithmetic_section()
elif mode == "Why residuals":
    residuals_section()
elif mode == "Clever Hans":
    clever_hans_section()
elif mode == "Generalization":
    generalization_section()
else:
    view.table_section()
