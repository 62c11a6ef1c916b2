"""The "Clever Hans" view of the architectures page: a probe that learns a watermark instead of the object."""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from cvdemo.architectures import clever_hans, figures, transfer
from cvdemo.ui.common import current_device, session_memo

HELP = """
The explainability lecture shows a **horse** photo from Pascal VOC: a classifier called it a horse
because of the **copyright tag** in its corner — many horse photos of the data set carried one —
and relevance propagation lit up the tag, not the horse (Lapuschkin et al., *Unmasking Clever Hans
predictors*). Geirhos et al. call this **shortcut learning**: a network picks whatever separates
the training labels most easily. Build the trap here: every training image of one class gets a
tag, a linear probe is trained on frozen ImageNet features (as in *Transfer learning*), and then
the tag is stamped on images of the **other** class.
"""


def _draw_box(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    pil = Image.fromarray(np.ascontiguousarray(image))
    ImageDraw.Draw(pil).rectangle([cols.min(), rows.min(), cols.max(), rows.max()], outline=(0, 255, 0), width=2)
    return np.asarray(pil)


def clever_hans_section(load_backbone: Callable[[str, str], transfer.Backbone]) -> None:
    """``load_backbone(name, device)``: the frozen ImageNet backbone, as the transfer-learning view caches it."""
    st.markdown(HELP)
    names = transfer.backbone_names()
    if not names:
        st.warning("No ImageNet classifier is ready offline; `python -m cvdemo weights` lists what to fetch.")
        return
    classes = list(transfer.DEMO_SETS["objects"].train_photos)
    left, middle, right = st.columns(3)
    backbone_name = left.selectbox("Frozen backbone", names, key="arch_ch_backbone")
    pair = middle.multiselect("Two classes (scikit-image photos)", classes, default=["cat", "coffee cup"],
                              max_selections=2, key="arch_ch_classes")
    if len(pair) != 2:
        st.info("Pick two classes.")
        return
    tagged = right.radio("Tag every training image of", pair, key="arch_ch_tagged", horizontal=True)
    a, b = st.columns(2)
    width = a.slider("Tag width (share of the image side)", 0.2, 0.8, clever_hans.TAG_SIZE[0], 0.05, key="arch_ch_width")
    seed = int(b.number_input("Seed", 0, 1000, 0, key="arch_ch_seed"))
    tag = (width, round(width * clever_hans.TAG_SIZE[1] / clever_hans.TAG_SIZE[0], 3))

    backbone = load_backbone(backbone_name, str(current_device()))
    key = (backbone_name, tuple(pair), tagged, tag, seed)
    if st.button(f"Train the probe with a tag on every “{tagged}”", type="primary", key="arch_ch_train"):
        bar = st.progress(0.0, text="Backbone features…")
        session_memo("clever_hans", key, lambda: clever_hans.run(
            backbone, "objects", pair, tagged, seed=seed, tag=tag,
            progress=lambda done, total: bar.progress(done / total, text=f"Backbone features {done}/{total}")), size=3)
        bar.empty()
    experiment = st.session_state.get("_memo_clever_hans", {}).get(key)
    if experiment is None:
        st.caption("Eight crops per class, tagged ones included; a few seconds on a CPU.")
        return
    other = pair[1 - experiment.tagged_class]
    step = max(1, len(experiment.train_images) // 6)
    st.image(experiment.train_images[::step][:6], width=110,
             caption=[f"training: {experiment.classes[label]}" for label in experiment.train_labels[::step][:6]])
    c1, c2, c3 = st.columns(3)
    c1.metric("Held-out accuracy (no tags)", f"{experiment.clean_accuracy:.0%}")
    c2.metric(f"Held-out “{other}” called “{tagged}”, without the tag", f"{experiment.untagged_rate:.0%}")
    c3.metric("… with the tag stamped on", f"{experiment.flip_rate:.0%}",
              delta=f"{experiment.flip_rate - experiment.untagged_rate:+.0%} from the tag alone", delta_color="inverse")

    clean, stamped = experiment.tagged_probabilities(backbone)
    index = int(st.selectbox(f"A held-out “{other}” image", range(len(clean)), index=int(np.argmax(stamped - clean)),
                             key="arch_ch_pick",
                             format_func=lambda i: f"#{i + 1}: P({tagged}) {clean[i]:.0%} → {stamped[i]:.0%} with the tag"))
    image = clever_hans.stamp(experiment.other_images[index], experiment.tag)
    evidence = session_memo("clever_hans", key + ("evidence", index), lambda: _with_progress(backbone, experiment, image), size=6)
    left, middle, right = st.columns(3)
    left.image(experiment.other_images[index], caption=f"as it is: P({tagged}) = {clean[index]:.0%}", width="stretch")
    middle.image(image, caption=f"with the tag: P({tagged}) = {stamped[index]:.0%}", width="stretch")
    positive = np.clip(evidence.heatmap, 0, None)
    right.image(_draw_box(figures.overlay_heatmap(evidence.view, positive), evidence.tag_mask), width="stretch",
                caption=f"occlusion evidence for “{tagged}” (green: the tag)")
    st.markdown(f"**{evidence.inside_share:.0%}** of the positive occlusion evidence for “{tagged}” lies on the tag, which "
                f"covers **{evidence.area_share:.0%}** of what the network sees: "
                f"{evidence.inside_share / max(evidence.area_share, 1e-9):.1f}× the evidence an even spread would give it.")
    st.caption("Occlusion: a 48×48 grey patch slides over the image in steps of 16 px and the drop of the class score is "
               "credited to the pixels it covered (Zeiler & Fergus); a patch much smaller than the tag would hide too "
               "little of it to change anything. The fix the lectures imply: look at explanations before trusting "
               "accuracy, and remove the shortcut from the data.")


def _with_progress(backbone, experiment, image):
    bar = st.progress(0.0, text="Occlusion…")

    def progress(fraction: float, message: str | None = None) -> bool:
        bar.progress(min(1.0, fraction), text=message or "Occlusion…")
        return True

    evidence = clever_hans.evidence(backbone, experiment, image, progress=progress)
    bar.empty()
    return evidence
