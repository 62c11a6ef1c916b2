"""Segmentation: semantic and instance overlays, live webcam, mIoU, and how decoders upsample."""

import streamlit as st

from cvdemo.ui import segmentation as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.concepts import open_linked_view

page_setup(__file__)
st.title("🧩 Segmentation")
st.caption("Every pixel gets a class (semantic) or an object (instance). FCNs downsample for context and "
           "upsample back to pixels — see how on your own photos.")

open_linked_view("seg_mode", view.MODES)
mode = st.radio("View", view.MODES, key="seg_mode", horizontal=True, label_visibility="collapsed")

if mode == "Live webcam":
    view.live_section()
elif mode == "How decoders upsample":
    view.decoders_section(lambda: view.picture("seg_image"))
else:
    inputs, _ = st.columns([2, 1])
    with inputs:
        picked = view.picture("seg_image")
        spec = view.pick_semantic() if mode != "Instances (photo)" else None
    if mode == "Semantic (photo)":
        view.semantic_section(spec, picked)
    elif mode == "Instances (photo)":
        view.instances_section(picked)
    else:
        view.miou_section(spec, picked)
