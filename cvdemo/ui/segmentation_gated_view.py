"""The segmentation page's Gated-SCNN view: widgets only; the computation is in
:mod:`cvdemo.segmentation.shape_stream`."""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from cvdemo.registry import ModelSpec
from cvdemo.results import SemanticMask
from cvdemo.segmentation import shape_stream
from cvdemo.ui.common import image_digest, session_memo
from cvdemo.yolo.insight import display_copy

GATED_HELP = """
**Gated-SCNN** (Takikawa et al., 2019) adds a **shape stream** to a segmentation network: it starts
from **image gradients** — classic edge detection — and its gated convolutional layers let through
only the edges the **regular stream** (the segmenter) believes are object boundaries. Each gate is
α = σ(1×1 conv of [s ‖ r]) per pixel, with *s* the shape features and *r* the regular stream's, and
the layer passes on *s* ⊙ α.

Here, on your picture: *s* = the **Sobel** gradient magnitude |∇I| (scaled so that its 99th percentile
is 1), *r* = the **boundary of the segmenter's mask** as a band fading with distance, and one 1×1
convolution whose three numbers you set: α = σ(w_s·s + w_r·r + b). This illustrates the idea with
real gradients and a real mask; it is **not** the trained Gated-SCNN (whose gates are learnt, on
many feature channels, at several depths).
"""


def _grey(values: np.ndarray) -> np.ndarray:
    """[0, 1] → uint8 grey (white = 1)."""
    return (np.clip(values, 0.0, 1.0) * 255).round().astype(np.uint8)


def gated_shape_section(spec: ModelSpec | None, picked: tuple[np.ndarray, str] | None, *,
                        segment: Callable[[ModelSpec, np.ndarray], SemanticMask]) -> None:
    """``segment(spec, image)``: the page's cached segmentation, so this view reuses the Semantic view's run."""
    st.markdown(GATED_HELP)
    if spec is None or picked is None:
        st.info("Pick a ready model and a picture: its mask gives the regular stream's boundaries.")
        return
    image, _ = picked
    picture = display_copy(image, 480)
    mask = segment(spec, image)
    objects = shape_stream.object_mask(mask.classes, tuple(mask.categories), picture.shape[:2])
    controls, view = st.columns([1, 3])
    with controls:
        w_shape = st.slider("w_s (gradient)", -10.0, 10.0, 4.0, 0.5, key="seg_gscnn_ws")
        w_regular = st.slider("w_r (segmenter's boundary)", -20.0, 20.0, 10.0, 0.5, key="seg_gscnn_wr")
        bias = st.slider("b (bias)", -15.0, 5.0, -7.0, 0.5, key="seg_gscnn_b")
        width = st.slider("Boundary band width (pixels)", 1.0, 15.0, 4.0, 0.5, key="seg_gscnn_band")
    weights = shape_stream.GateWeights(w_shape, w_regular, bias)
    result = session_memo("seg_gscnn", (spec.name, image_digest(picture), weights, width),
                          lambda: shape_stream.gate(picture, objects, weights, width), size=4)
    with view:
        if not objects.any() or objects.all():
            st.warning(f"{spec.title} finds no object boundary in this picture (its mask is all "
                       f"{'object' if objects.all() else 'background'}): the gate sees no boundary and only w_s·s + b decide.")
        top = st.columns(2)
        top[0].image(_grey(result.gradient), width="stretch", caption="s: Sobel |∇I| — every edge, texture included")
        top[1].image(_grey(result.boundary), width="stretch", caption="r: boundary band of the segmenter's mask")
        bottom = st.columns(2)
        bottom[0].image(_grey(result.alpha), width="stretch", caption="gate α = σ(w_s·s + w_r·r + b)")
        bottom[1].image(_grey(result.gated), width="stretch", caption="gated shape stream s ⊙ α")
        a, b, c, d = st.columns(4)
        a.metric("Boundary share, before", f"{result.boundary_share_before:.1%}")
        b.metric("Boundary share, after", f"{result.boundary_share_after:.1%}")
        c.metric("Boundary edges kept", f"{result.kept_on_boundary:.1%}")
        d.metric("Other edges kept", f"{result.kept_elsewhere:.1%}")
        st.caption("Boundary share: the part of all gradient that lies on the segmenter's boundary band. Before the "
                   "gate most gradient lies on texture and background edges; after it, what is left lies on the "
                   "segmenter's boundary. Set w_r to 0 and the gate can only look at the gradient itself: it keeps or "
                   "drops edges by strength alone, wherever they are. In the trained network the boundary it keeps is then supervised "
                   "against the true object edges, which sharpens the regular stream's boundaries in turn.")
