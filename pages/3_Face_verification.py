"""Face verification: a Siamese network (dlib's ResNet) on your photos and webcam."""

import streamlit as st

from cvdemo.ui import faces as view
from cvdemo.ui.common import page_setup
from cvdemo.ui.views import show_views

page_setup(__file__)
st.title("🪪 Face verification")
st.caption("One shared network maps every face to 128 numbers; the same person lands close, different people far apart. "
           "Detect (MTCNN) → align → embed (dlib's ResNet, ported to PyTorch) → compare.")

show_views(view.VIEWS, "fv_mode")
