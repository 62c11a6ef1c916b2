"""Segmentation: semantic and instance overlays, live webcam, mIoU, and how decoders upsample."""

import streamlit as st

from cvdemo.ui import segmentation as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.views import show_views

page_setup(__file__)
st.title("🧩 Segmentation")
st.caption("Every pixel gets a class (semantic) or an object (instance). FCNs downsample for context and "
           "upsample back to pixels — see how on your own photos.")

show_views(view.VIEWS, "seg_mode")
