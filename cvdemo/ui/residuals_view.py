"""The "Why residuals" view of the architectures page: plain vs residual nets trained live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cvdemo.architectures import residuals
from cvdemo.ui.common import session_memo

HELP = """
The lectures' puzzle: a **56-layer plain net has a higher *training* error than a 20-layer one**,
although the deeper net could copy the shallower one and set its extra layers to the **identity**.
Train both kinds here, on tiny images the app draws (five shapes on noise), each from the same
seed, data and number of steps: a *plain* stack of 3×3 convolutions, and a *residual* one where
every pair of convolutions computes **x + F(x)**. Deeper plain nets end **worse**; deeper residual
nets do not — and the gradient plot shows why: backpropagation multiplies one factor per layer,
and in the plain stack those factors are < 1, so the gradient **vanishes** before it reaches the
first layers.
"""

DEPTHS = (4, 6, 8, 12, 16, 20, 24)


def residuals_section() -> None:
    st.markdown(HELP)
    controls, samples = st.columns([2, 1])
    with controls:
        depths = st.multiselect("Depths (weighted layers)", DEPTHS, default=[4, 8, 16], key="arch_res_depths")
        left, right = st.columns(2)
        epochs = int(left.slider("Epochs", 2, 20, 8, key="arch_res_epochs"))
        seed = int(right.number_input("Seed", 0, 1000, 0, key="arch_res_seed",
                                      help="Same seed → same data, same initial weights, same batches: same curves."))
        identity_start = st.checkbox("Residual blocks start as the identity (second convolution at zero)", value=True,
                                     key="arch_res_identity",
                                     help="The lectures' solution by construction. Without it every block adds "
                                          "random noise at the start, and deep residual nets train less reliably.")
    with samples:
        images, labels = residuals.shapes_dataset(10, seed)
        tiles = [np.kron(((img[0].numpy() + 1) / 3).clip(0, 1), np.ones((6, 6))) for img in images]
        st.image(tiles, caption=[residuals.SHAPES[int(label)] for label in labels], width=72, clamp=True)
        st.caption(f"{residuals.IMAGE_SIZE}×{residuals.IMAGE_SIZE} training images, noise σ = 0.3")
    if not depths:
        st.info("Pick at least one depth.")
        return
    key = (tuple(sorted(depths)), epochs, seed, identity_start)
    if st.button("Train plain and residual nets", type="primary", key="arch_res_train"):
        bar = st.progress(0.0, text="Training…")

        def progress(done: int, total: int, name: str) -> None:
            bar.progress(done / total, text=f"Training {name} ({done + 1}/{total})" if name else "Done")

        session_memo("residuals", key, lambda: residuals.sweep(key[0], epochs=epochs, seed=seed,
                                                               identity_start=identity_start, progress=progress), size=4)
        bar.empty()
    runs = st.session_state.get("_memo_residuals", {}).get(key)
    if runs is None:
        st.caption(f"{2 * len(depths)} networks; a few seconds each on a CPU.")
        return
    left, right = st.columns(2)
    left.plotly_chart(residuals.degradation_figure(runs), key="arch_res_degradation")
    right.plotly_chart(residuals.curves_figure(runs), key="arch_res_curves")
    st.plotly_chart(residuals.gradients_figure(runs), key="arch_res_gradients")
    st.dataframe(pd.DataFrame([{
        "network": r.name, "layers": r.depth, "final training loss": round(r.final_loss, 3),
        "training accuracy %": round(100 * r.train_accuracy, 1), "held-out accuracy %": round(100 * r.test_accuracy, 1),
        "‖∂L/∂W‖ layer 1 ÷ last": f"{r.initial_gradients[0] / r.initial_gradients[-1]:.1e}",
        "seconds": round(r.seconds, 1)} for r in runs]), hide_index=True, width="stretch")
    st.caption(f"Chance level is ln {len(residuals.SHAPES)} = {np.log(len(residuals.SHAPES)):.3f}: a net stuck there "
               "outputs the same scores for every image. The lectures' figures (He et al., CIFAR-10) show the same "
               "pattern with 20–56 (plain) and up to 110 (residual) layers and batch normalisation; here the nets are "
               "tiny and have no normalisation, so the effect appears at a few layers and within seconds.")
