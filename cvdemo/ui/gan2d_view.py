"""The "2-D GAN game" tab of the GAN page: a tiny GAN trained live on points in the plane."""

from __future__ import annotations

import streamlit as st

from cvdemo.gan import toy2d
from cvdemo.ui.common import session_memo

HELP = """
The DCGAN on the other tabs was trained as one half of a game: a **discriminator** D learned to
tell real faces from generated ones, a **generator** G learned to fool it. In 64×64×3 dimensions
nobody can watch that game; in two dimensions everyone can. Real data: points in blobs on a ring.
G turns 2-D noise z into points; D scores every point of the plane with its probability of being
real (**blue = "real"**, red = "fake", black line D = ½). Watch G's points chase the regions D
calls real, D move its boundary, and — when the game is unbalanced — **mode collapse**: G
crowding onto one or two blobs, or hopping from blob to blob.
"""

PRESETS = {
    "balanced: 1 D step, 1 G step": dict(d_steps=1, g_steps=1),
    "generator favoured: 5 G steps per D step (provokes mode collapse)": dict(d_steps=1, g_steps=5),
    "discriminator alone: G frozen": dict(d_steps=1, g_steps=0),
}


def gan2d_tab(_session=None) -> None:
    st.markdown(HELP)
    left, middle, right = st.columns(3)
    preset = left.selectbox("Game", list(PRESETS), key="gan2d_preset")
    loss = middle.radio("Generator loss", ["non-saturating", "minimax"], key="gan2d_loss", horizontal=True,
                        help="non-saturating: minimise −log D(G(z)); minimax: minimise log(1 − D(G(z))), which is flat "
                             "exactly when D rejects G's points confidently — G learns slowly at the start.")
    modes = int(right.slider("Blobs (modes)", 2, 12, 8, key="gan2d_modes"))
    a, b = st.columns(2)
    steps = int(a.select_slider("Training steps", [200, 400, 600, 1000, 1500], value=600, key="gan2d_steps"))
    seed = int(b.number_input("Seed", 0, 1000, 0, key="gan2d_seed"))
    key = (preset, loss, modes, steps, seed)
    if st.button("Train the GAN", type="primary", key="gan2d_train"):
        bar = st.progress(0.0, text="Training…")
        session_memo("gan2d", key, lambda: toy2d.train(
            modes, steps, loss=loss, seed=seed, **PRESETS[preset],
            progress=lambda done, total: bar.progress(done / total, text=f"Step {done}/{total}")), size=3)
        bar.empty()
    run = st.session_state.get("_memo_gan2d", {}).get(key)
    if run is None:
        st.caption("A few seconds on a CPU; the same settings and seed always give the same game.")
        return
    index = st.slider("Snapshot", 1, len(run.snapshots), len(run.snapshots), key="gan2d_snapshot",
                      help="Ten pictures of the game as it was trained.")
    snapshot = run.snapshots[index - 1]
    st.plotly_chart(toy2d.snapshot_figure(run, snapshot), key="gan2d_surface")
    st.plotly_chart(toy2d.history_figure(run), key="gan2d_history")
    collapsed = [s for s in run.snapshots if s.quality >= 0.5 and s.modes_covered <= max(1, modes // 4)]
    if collapsed:
        s = collapsed[0]
        st.warning(f"Mode collapse at step {s.step}: {s.quality:.0%} of G's points sit on a mode, but on only "
                   f"{s.modes_covered} of the {modes}. Nothing in G's loss rewards variety: one blob D accepts is enough.")
    st.caption("Modes covered: blobs holding at least 2% of 1000 generated points within 3σ of their centre. The DCGAN "
               "faces are the same game in 12,288 dimensions; its generator was trained to fool a discriminator that "
               "is not shipped.")
