"""GAN faces: sample, interpolate, do arithmetic on and look inside a DCGAN generator."""

import streamlit as st

from cvdemo.ui import gan as ui
from cvdemo.ui.common import page_setup
from cvdemo.ui.views import show_views

device = page_setup(__file__)
st.title("🎲 GAN faces — a DCGAN generator to play with")
st.markdown(
    "A **generator** turns 100 random numbers *z* ~ N(0, 1) into a 64×64 face. It is the transposed-convolution "
    "decoder of the segmentation lectures run from a random vector: "
    "**z → 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×3**. It was trained as one half of a GAN: a "
    "discriminator learned to tell its faces from real ones, and the generator learned to fool it. "
    "The same seed always gives the same faces."
)
st.button("🎯 Watch the adversarial game itself: a tiny GAN trained live in 2-D", key="gan_to_2d", type="tertiary",
          on_click=lambda: st.session_state.update(gan_tab="2-D GAN game"))

session = ui.GanSession.from_sidebar(device)
if session is None:
    st.stop()
show_views(ui.VIEWS, "gan_tab", session)
