"""Face verification: a Siamese network (dlib's ResNet) on your photos and webcam."""

import streamlit as st

from cvdemo.ui import faces as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.concepts import open_linked_view
from cvdemo.ui.similarity_view import similarity_section

page_setup(__file__)
st.title("🪪 Face verification")
st.caption("One shared network maps every face to 128 numbers; the same person lands close, different people far apart. "
           "Detect (MTCNN) → align → embed (dlib's ResNet, ported to PyTorch) → compare.")

open_linked_view("fv_mode", view.MODES)
mode = st.radio("View", view.MODES, key="fv_mode", horizontal=True, label_visibility="collapsed")

if mode == "Verify two photos":
    view.verify_section()
elif mode == "Gallery & identify":
    view.gallery_section()
elif mode == "Metric space":
    view.metric_section()
elif mode == "Similarity measures":
    similarity_section()
else:
    view.training_section()
