"""Home: what the app shows, the device in use, and which models are ready."""

import streamlit as st

from cvdemo.ui import home
from cvdemo.ui.common import page_setup
from cvdemo.ui.concepts import concept_search
from cvdemo.ui.serving import inference_status

device = page_setup(__file__)

st.title("cvdemo — see how modern vision networks work")
st.markdown(
    "Upload a photo or switch on your webcam, then look inside: what a detector predicts in every grid cell, "
    "how a decoder upsamples, how far apart two faces are for a Siamese network, which pixels a classifier "
    "relied on. Everything runs on this machine with real pretrained weights; the models below marked "
    "**ready** work offline."
)
concept_search()

home.feature_cards()
inference_status()
home.models_section()
