"""Home: what the app shows, the device in use, and which models are ready."""

import streamlit as st

from cvdemo.cli.weights import status_rows
from cvdemo.ui.common import page_setup
from cvdemo.ui.prepare import prepare_for_class, show_model_tables
from cvdemo.ui.concepts import concept_search
from cvdemo.ui.pages import FEATURES
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

columns = st.columns(3)
for index, feature in enumerate(FEATURES):
    with columns[index % 3].container(border=True):
        st.page_link(f"pages/{feature.file}", label=feature.title, icon=feature.icon)
        st.caption(feature.pitch)

inference_status()

st.subheader("Models")
rows = status_rows()
ready = sum(row["status"] == "ready" for row in rows)
st.markdown(f"**{ready} of {len(rows)}** models are ready offline on this machine. "
            "The others come from the torchvision zoo once you are online.")
with st.container(border=True):
    st.markdown("**Prepare for class**")
    prepare_for_class()
show_model_tables(rows)
