"""Detection: boxes on photos and the live webcam; one-stage vs two-stage; NMS, IoU, proposals and mAP made visible."""

import streamlit as st

from cvdemo.ui import detection as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.two_stage_view import two_stage_tab
from cvdemo.ui.yolo_v1_view import yolo_v1_tab
from cvdemo.ui.concepts import open_linked_view

page_setup(__file__)
st.title("🎯 Detection")
st.caption("What is where: a class, a score and a box for every object. Try your own photos and your webcam, then open "
           "the detector up — its boxes before and after NMS, the grid a one-stage head scores, the region proposals of "
           "R-CNN, and how mAP is computed.")

settings = view.sidebar_settings()
open_linked_view("det_tab", view.TABS)

SECTIONS = [view.photos_tab, view.side_by_side_tab, view.nms_tab, view.head_tab, view.proposals_tab,
            two_stage_tab, view.metrics_tab,
            view.yolo_tab, yolo_v1_tab, view.live_tab]
# Only the open tab runs (on_change="rerun"): the others would run detectors nobody is looking at,
# and the live tab keeps the script busy while the stream plays.
for tab, section in zip(st.tabs(view.TABS, key="det_tab", on_change="rerun"), SECTIONS):
    if tab.open:
        with tab:
            section(settings)
