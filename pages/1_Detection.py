"""Detection: boxes on photos and the live webcam; one-stage vs two-stage; NMS, IoU, proposals and mAP made visible."""

import streamlit as st

from cvdemo.ui import detection as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.detection_input import sidebar_settings
from cvdemo.ui.views import show_views

page_setup(__file__)
st.title("🎯 Detection")
st.caption("What is where: a class, a score and a box for every object. Try your own photos and your webcam, then open "
           "the detector up — its boxes before and after NMS, the grid a one-stage head scores, the region proposals of "
           "R-CNN, and how mAP is computed.")

settings = sidebar_settings()
show_views(view.VIEWS, "det_tab", settings)
