"""The "Autoencoder" tab of the GAN page: a decoder trained to reconstruct, beside the generator trained to fool."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cvdemo.gan import autoencoder
from cvdemo.ui.common import session_memo

HELP = """
An **autoencoder** squeezes an image through a small **code** and rebuilds it: encoder
(convolutions with stride 2) → code → decoder (transposed convolutions, like the DCGAN's). It
learns from the images alone by minimising the reconstruction error. Here the code has only **two
numbers**, so it can be drawn: each training image (the app's own shapes) becomes a point, and
decoding a grid of points shows what every part of the code space means. A GAN's generator is
such a decoder, trained instead to fool a discriminator — which is why its samples are sharper
but it has no encoder to find the code of a given image.
"""


def autoencoder_tab(_session=None) -> None:
    st.markdown(HELP)
    left, right = st.columns(2)
    epochs = int(left.slider("Epochs", 5, 60, 20, key="gan_ae_epochs"))
    seed = int(right.number_input("Seed", 0, 1000, 0, key="gan_ae_seed"))
    key = (epochs, seed)
    if st.button("Train the autoencoder", type="primary", key="gan_ae_train"):
        bar = st.progress(0.0, text="Training…")
        session_memo("autoencoder", key, lambda: autoencoder.train(
            epochs=epochs, seed=seed, progress=lambda done, total: bar.progress(done / total, text=f"Epoch {done}/{total}")),
            size=2)
        bar.empty()
    run = st.session_state.get("_memo_autoencoder", {}).get(key)
    if run is None:
        st.caption("256 images of 12×12 pixels; a few seconds on a CPU.")
        return
    st.markdown(f"Reconstruction error (mean squared, per pixel): **{run.losses[-1]:.4f}**, against "
                f"{run.mean_image_loss:.4f} for always answering the average image.")
    originals = run.images[:8, 0].numpy()
    st.image(autoencoder.tile(np.stack([originals, run.reconstructions(8)])), caption="top: inputs · bottom: "
             "their reconstructions through 2 numbers", width=520)
    left, right = st.columns(2)
    left.plotly_chart(autoencoder.code_figure(run), key="gan_ae_codes")
    _, _, grid = run.decode_grid(8)
    right.image(autoencoder.tile(grid, scale=4), caption="the decoder on an 8×8 grid over the codes' range "
                "(same axes as the scatter)", width="stretch")
