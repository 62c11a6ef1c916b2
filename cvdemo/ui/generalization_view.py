"""The "Generalization" view of the architectures page: an ImageNet classifier on a turned photo."""

from __future__ import annotations

import streamlit as st

from cvdemo.architectures import generalization, transfer
from cvdemo.ui.common import cached_model, image_digest, image_input, session_memo

HELP = """
The first lecture's **Generalization** slides: ImageNet accuracy does not carry over to
**ObjectNet**, a test set that controls for rotation, viewpoint and background — networks learn
the usual pose of objects in their training photos, not only the objects. Try it: the same
photo, turned in steps, through an ImageNet classifier. Nothing about the object changes except
its orientation; watch what the network's confidence does.
"""


def generalization_section() -> None:
    st.markdown(HELP)
    names = transfer.backbone_names()
    if not names:
        st.warning("No ImageNet classifier is ready offline; `python -m cvdemo weights` lists what to fetch.")
        return
    left, right = st.columns([1, 2])
    with left:
        name = st.selectbox("Classifier", names, key="arch_gen_model")
        step = int(st.select_slider("Step (degrees)", [10, 15, 30, 45], value=15, key="arch_gen_step"))
        picked = image_input("arch_gen_image", "Photo", default_sample="cat (Chelsea)")
    if picked is None:
        return
    image, image_name = picked
    classifier = cached_model(name)
    with st.spinner("Classifying every rotation…"):
        sweep = session_memo("generalization", (name, step, image_digest(image)),
                             lambda: generalization.rotation_sweep(classifier, image, step), size=4)
    with right:
        st.plotly_chart(generalization.sweep_figure(sweep), key="arch_gen_curve")
        upright = sweep.categories[sweep.reference]
        st.markdown(f"Upright, {name} says **{upright}** ({sweep.reference_probability[0]:.0%}). It keeps that answer at "
                    f"**{sweep.kept:.0%}** of the {len(sweep.angles)} angles; the lowest probability is "
                    f"{sweep.reference_probability.min():.0%} at {sweep.angles[sweep.reference_probability.argmin()]}°.")
    square = generalization.frame(image)
    shown = sweep.angles[:: max(1, len(sweep.angles) // 8)][:8]
    st.image([generalization.rotated(square, float(a)) for a in shown], width=96,
             caption=[f"{a}°: {sweep.categories[sweep.top1[list(sweep.angles).index(a)]]}" for a in shown])
    st.caption(f"{image_name}, framed square; every view keeps the disc inscribed in the square and fills the corners with "
               "the photo's mean colour, so the only change is the orientation. Augmenting the training data with "
               "rotations (see Augmentation) is the usual remedy — for the rotations one thinks of.")
