"""Architectures and training: the table, receptive fields, convolutionalization, augmentation, transfer learning."""

import streamlit as st

from cvdemo.ui import architectures as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.views import show_views

page_setup(__file__)
st.title("🏛️ Architectures and training")
st.caption("Why networks look the way they do: AlexNet → VGG → Inception → ResNet → MobileNet measured, "
           "receptive fields on your photo, classifiers turned into FCNs, augmentation, and transfer learning in seconds.")

show_views(view.VIEWS, "view")
