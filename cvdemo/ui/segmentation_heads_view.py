"""The skip view's part on torchvision's FCN, DeepLabV3 and LR-ASPP: widgets only; the wiring is
read in :mod:`cvdemo.segmentation.torchvision_heads`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cvdemo import registry
from cvdemo.segmentation import torchvision_heads as heads
from cvdemo.segmentation.overlay import BACKGROUND_NAMES, class_colours, overlay_classes
from cvdemo.ui.common import cached_model, image_digest, session_memo
from cvdemo.yolo.insight import display_copy

HEADS_HELP = """
torchvision's segmenters are wired differently from the lecture's FCN-8s. Below, for **your picture's
size** (resized so that its shorter side is 520 pixels, as their weights expect), the feature maps
that reach each head, read off the architectures themselves (built without weights, shapes only):
FCN-ResNet50 has **no skip** at all, DeepLabV3 none either but ASPP, and LR-ASPP **one** stride-8 skip.
"""


def wiring_rows(wirings: dict[str, heads.HeadWiring]) -> list[dict]:
    rows = []
    for name, wiring in wirings.items():
        rows.append({
            "network": heads.SHORT_TITLES[name],
            "maps reaching the head": "; ".join(f"stride {i.stride:g}: {i.size[0]}×{i.size[1]}×{i.channels} ({i.key})"
                                                for i in wiring.inputs),
            "skips": len(wiring.skips),
            "skip fusion": wiring.fusion,
            "ASPP rates": ", ".join(str(r) for r in wiring.aspp_rates) or "—",
            "coarse scores": f"{wiring.coarse_scores[1]}×{wiring.coarse_scores[2]}×{wiring.coarse_scores[0]}",
            "final upsampling (bilinear)": f"×{wiring.final_upsampling:.3g}",
        })
    return rows


def torchvision_heads_section(picked: tuple[np.ndarray, str] | None) -> None:
    st.subheader("torchvision's FCN, DeepLabV3 and LR-ASPP: what reaches the head")
    st.markdown(HEADS_HELP)
    if picked is None:
        st.info("Choose a picture above: the sizes below are for its size.")
        return
    image, _ = picked
    size = (int(image.shape[0]), int(image.shape[1]))
    wirings = session_memo("seg_heads", size, lambda: {name: heads.wiring_for(builder, size)
                                                       for name, builder in heads.BUILDERS.items()}, size=4)
    network_input = next(iter(wirings.values())).network_input
    st.markdown(f"Your picture is {size[0]}×{size[1]} pixels; these networks see it as **{network_input[0]}×{network_input[1]}**.")
    st.dataframe(pd.DataFrame(wiring_rows(wirings)), hide_index=True, width="stretch",
                 column_config={"skips": st.column_config.NumberColumn(width="small"),
                                "ASPP rates": st.column_config.TextColumn(width="small")})
    name = st.radio("Network", list(heads.BUILDERS), horizontal=True, key="seg_heads_model",
                    format_func=lambda n: registry.get(n).title)
    for line in heads.describe(wirings[name]):
        st.markdown(f"- {line}")
    spec = registry.get(name)
    state = spec.status()
    if not spec.ready:
        st.info(f"The sizes above need no weights. To run **{spec.title}** on your picture"
                + (" and cut its skip" if wirings[name].skips else "")
                + f", download its weights — {state.where}: `{state.action}`")
        return
    model = cached_model(name)
    colours = class_colours(model.categories)
    visible = np.array([c not in BACKGROUND_NAMES for c in model.categories], dtype=bool)
    picture = display_copy(image, 480)
    full = session_memo("seg_heads_run", (name, image_digest(picture)), lambda: model.segment(picture), size=4)
    if not wirings[name].skips:
        st.image(overlay_classes(picture, full.classes, colours, opacity=0.6, visible=visible), width=480,
                 caption=f"{spec.title} on your picture: one path, nothing to cut")
        return
    cut = session_memo("seg_heads_cut", (name, image_digest(picture)),
                       lambda: heads.segment_with_module_zeroed(model, picture, heads.LRASPP_SKIP), size=4)
    left, right = st.columns(2)
    left.image(overlay_classes(picture, cut.classes, colours, opacity=0.6, visible=visible), width="stretch",
               caption="skip cut: stride-16 context scores alone")
    right.image(overlay_classes(picture, full.classes, colours, opacity=0.6, visible=visible), width="stretch",
                caption="with the stride-8 skip (the network as trained)")
    st.metric("Pixels whose class the skip changes", f"{1 - heads.agreement(cut.classes, full.classes):.1%}")
