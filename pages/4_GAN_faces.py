"""GAN faces: sample, interpolate, do arithmetic on and look inside a DCGAN generator."""

import streamlit as st

from cvdemo.gan import sampling
from cvdemo.registry import Task
from cvdemo.ui import gan as ui
from cvdemo.ui.common import cached_model, model_picker, page_setup
from cvdemo.ui.concepts import open_linked_view

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

spec = model_picker(Task.GENERATOR, key="gan_model", label="Generator")
if spec is None:
    st.stop()
generator = cached_model(spec.name)

# Shared by every tab, in the sidebar.
st.session_state.setdefault("gan_seed", 42)
st.session_state.setdefault("gan_n", 16)
st.session_state.setdefault("gan_face", 0)
with st.sidebar:
    st.subheader("Faces")
    seed = int(st.number_input("Seed", 0, sampling.MAX_SEED, step=1, key="gan_seed", persist_state="session",
                               help="Face k of a seed is the same whatever the grid size."))
    st.button("🎲 New seed", on_click=ui.new_seed, width="stretch")
    n = int(st.slider("Faces in the grid", 1, 64, key="gan_n", persist_state="session"))
    if st.session_state["gan_face"] > n - 1:  # the grid shrank under the chosen face
        st.session_state["gan_face"] = n - 1
    face = int(st.number_input("Chosen face", 0, n - 1, step=1, key="gan_face", persist_state="session",
                               help="Click a face in the grid, or type its number (0 = top left, row by row)."))

open_linked_view("gan_tab", list(ui.VIEWS))
session = ui.GanSession(spec, generator, device, seed, n, face)
for tab, view in zip(st.tabs(list(ui.VIEWS), key="gan_tab", on_change="rerun"), ui.VIEWS.values()):
    with tab:
        if tab.open:  # only the open tab computes
            view(session)
