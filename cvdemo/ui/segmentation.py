"""Widgets and layout of the segmentation page; every computation lives in :mod:`cvdemo.segmentation`.

``pages/2_Segmentation.py`` calls one ``*_section`` function per view. Results are kept per
(model, picture) in the session so moving a slider redraws without running the network again.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

from cvdemo import registry
from cvdemo.fastpath import engine_label
from cvdemo.images import ImageLoadError
from cvdemo.registry import ModelSpec, Task
from cvdemo.segmentation import figures, upsampling
from cvdemo.segmentation.decoders import DecoderTrace, trace_decoder
from cvdemo.segmentation.miou import GroundTruthError, parse_ground_truth, score
from cvdemo.segmentation.overlay import (background_effect, class_colours, colorize, distinct_colours, foreground_probability,
                                         indexed_png, instance_id_map, legend, outline_width_for, overlay_classes, overlay_instances,
                                         BACKGROUND_NAMES, LiveBackdrop)
from cvdemo.segmentation.pipeline import live_default
from cvdemo.ui.common import (SessionMemo, cached_model, decode_upload, download_png, download_stem, image_digest, image_input,
                              model_picker, plain)
from cvdemo.ui.segmentation_gated_view import gated_shape_section
from cvdemo.ui.skips_view import skips_view

DECODER_VIEWS = ("Transposed convolution", "Checkerboard artefacts", "Unpooling", "Atrous convolution", "Inside a real decoder",
                 "Skips, PSPNet and DeepLabV3+")


_remember = SessionMemo("segmentation", size=6)


def _run_with_progress(steps: list[tuple[str, Callable[[], Any]]]) -> list[Any]:
    """Run ``steps`` in order under one progress bar (the bar disappears when done)."""
    bar = st.progress(0.0, text=steps[0][0])
    results = []
    for index, (label, step) in enumerate(steps):
        bar.progress(index / len(steps), text=label)
        results.append(step())
    bar.empty()
    return results


def pick_semantic(key: str = "seg_model", label: str = "Semantic segmentation model", default: str | None = None) -> ModelSpec | None:
    return model_picker(Task.SEMANTIC_SEGMENTATION, key=key, label=label, default=default)


def picture(key: str = "seg_image") -> tuple[np.ndarray, str] | None:
    return image_input(key, "Picture")


def segmentation_of(spec: ModelSpec, image: np.ndarray):
    model = cached_model(spec.name, fast=True)
    return _remember(("semantic", spec.name, image_digest(image)),
                     lambda: _run_with_progress([(f"Segmenting with {spec.title}…", lambda: model.segment(image))])[0])


# --- semantic --------------------------------------------------------------------------------------

SEMANTIC_HELP = """
A semantic segmentation network gives **every pixel a class**. Fully convolutional networks do this
by downsampling (to see context) and upsampling back (to place boundaries): the class map below is
the network's coarse prediction brought back to your photo's size. Two people touching are one
"person" region here — telling them apart is instance segmentation.
"""


def semantic_section(spec: ModelSpec | None, picked: tuple[np.ndarray, str] | None) -> None:
    st.markdown(SEMANTIC_HELP)
    if spec is None or picked is None:
        st.info("Pick a ready model and a picture to segment.")
        return
    image, name = picked
    mask = segmentation_of(spec, image)
    colours = class_colours(mask.categories)
    rows = legend(mask, colours)
    present = [r["class"] for r in rows]
    token = f"{spec.name}_{image_digest(image)}"
    controls, view = st.columns([1, 3])
    with controls:
        opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="seg_opacity")
        outline = st.toggle("Outlines only", key="seg_outline", help="Draw only region borders, so the photo stays visible inside.")
        suggested = outline_width_for(image.shape)  # a few screen pixels once the photo is shrunk to this column
        width = st.slider("Outline width (photo pixels)", 1, max(12, 2 * suggested), suggested, key=f"seg_outline_width_{suggested}",
                          disabled=not outline)
        shown = st.multiselect("Classes shown", present, default=[c for c in present if c not in BACKGROUND_NAMES],
                               key=f"seg_classes_{token}", help="Toggle classes on and off in the overlay.")
    visible = np.array([c in shown for c in mask.categories], dtype=bool)
    overlay = overlay_classes(image, mask.classes, colours, opacity=opacity, visible=visible, outline_only=outline,
                              outline_width=width)
    raw = colorize(mask.classes, colours)
    with view:
        left, right = st.columns(2)
        left.image(overlay, caption=f"Overlay — {spec.title}", width="stretch")
        right.image(raw, caption="Raw mask: one colour per class", width="stretch")
        st.plotly_chart(figures.share_figure(rows), width="stretch", key="seg_shares")
        st.dataframe(pd.DataFrame([{"class": r["class"], "index": r["index"], "colour": r["colour"],
                                    "pixel share": f"{r['fraction']:.2%}"} for r in rows]),
                     hide_index=True, width="stretch")
        stem = download_stem(name)
        a, b = st.columns(2)
        a.download_button("Download mask PNG (class indices)", indexed_png(mask.classes, colours),
                          file_name=f"{stem}.mask.png", mime="image/png", key="seg_download_mask",
                          help="An indexed PNG: each pixel's value is its class index (VOC format); viewers show it in colour.")
        with b:
            download_png(overlay, f"{stem}.overlay.png", "Download overlay PNG", key="seg_download_overlay")
        if mask.probabilities is not None:
            with st.expander("Where is the model unsure?"):
                confidence = mask.probabilities.max(axis=0)
                st.plotly_chart(figures.map_heatmap(confidence[::4, ::4], "Probability of the winning class (dark = unsure)",
                                                    colorscale="Greys_r", zmin=0, zmax=1, height=420),
                                width="stretch", key="seg_confidence")
                st.caption("Uncertainty gathers along boundaries: that is where the coarse score map had to be "
                           "interpolated between cells of different classes.")


# --- instances -------------------------------------------------------------------------------------

INSTANCE_HELP = """
**Mask R-CNN** = Faster R-CNN + a mask head: for each detected box, RoIAlign pools a 14×14 feature
patch and a small FCN predicts a 28×28 mask *for that box's class*, which is pasted back into the
photo. So every object gets its own mask — two people are two instances, not one "person" region.
"""
MIN_INSTANCE_SCORE = 0.1


def instances_section(picked: tuple[np.ndarray, str] | None) -> None:
    st.markdown(INSTANCE_HELP)
    spec = model_picker(Task.INSTANCE_SEGMENTATION, key="seg_inst_model", label="Instance segmentation model")
    if spec is None or picked is None:
        if spec is not None:
            st.info("Pick a picture.")
        return
    image, name = picked
    model = cached_model(spec.name)
    everything = _remember(("instances", spec.name, image_digest(image)), lambda: _run_with_progress(
        [(f"Finding instances with {spec.title} (a few seconds on a CPU)…",
          lambda: model.segment_instances(image, score_threshold=MIN_INSTANCE_SCORE))])[0])
    controls, view = st.columns([1, 3])
    with controls:
        threshold = st.slider("Score threshold", MIN_INSTANCE_SCORE, 0.95, 0.5, 0.05, key="seg_inst_threshold")
        opacity = st.slider("Mask opacity", 0.0, 1.0, 0.5, 0.05, key="seg_inst_opacity")
        outline = st.toggle("Outlines only", key="seg_inst_outline")
        boxes = st.toggle("Boxes and labels", value=True, key="seg_inst_boxes")
    instances = everything.filter(min_score=threshold)
    labels = [f"{i + 1} {instances.categories[l]} {s:.2f}" for i, (l, s) in enumerate(zip(instances.labels, instances.scores))]
    with controls:
        chosen = st.multiselect("Instances shown", labels, default=labels, key=f"seg_inst_shown_{image_digest(image)}_{threshold}")
    visible = np.array([label in chosen for label in labels], dtype=bool)
    drawn = overlay_instances(image, instances, visible=visible, opacity=opacity, outline_only=outline,
                              show_boxes=boxes, show_labels=boxes)
    with view:
        st.image(drawn, caption=f"{int(visible.sum())} of {len(instances)} instances with score ≥ {threshold:.2f}", width="stretch")
        if len(instances):
            area = instances.masks.reshape(len(instances), -1).mean(axis=1)
            st.dataframe(pd.DataFrame({"#": np.arange(1, len(instances) + 1), "class": instances.label_names,
                                       "score": np.round(instances.scores, 3), "mask % of image": np.round(area * 100, 2),
                                       "box x1,y1,x2,y2": [", ".join(f"{v:.0f}" for v in b) for b in instances.boxes],
                                       "shown": visible}), hide_index=True, width="stretch")
        stem = download_stem(name)
        ids = instance_id_map(instances, visible)
        a, b = st.columns(2)
        a.download_button("Download instance-ID PNG", indexed_png(ids, np.vstack([[0, 0, 0], distinct_colours(max(len(instances), 1))])),
                          file_name=f"{stem}.instances.png", mime="image/png", key="seg_inst_download_ids",
                          help="Pixel value i = instance i of the table (0 = none).")
        with b:
            download_png(drawn, f"{stem}.instances-overlay.png", "Download overlay PNG", key="seg_inst_download_overlay")


# --- live -----------------------------------------------------------------------------------------

LIVE_EFFECTS = ("Background blur", "Replace background", "Grey background", "Colour overlay")


def live_section() -> None:
    from cvdemo.ui.live import live_video

    ready = registry.ready_models(Task.SEMANTIC_SEGMENTATION)
    spec = pick_semantic("seg_live_model", "Model for the live video", default=live_default(ready))
    if spec is None:
        return
    model = cached_model(spec.name, fast=True)
    has_person = "person" in model.categories
    effects = LIVE_EFFECTS if has_person else LIVE_EFFECTS[-1:]
    a, b, c = st.columns(3)
    effect = a.radio("Effect", effects, key="seg_live_effect")
    strength = b.slider("Blur strength", 5, 81, 31, 2, key="seg_live_blur", disabled=effect != "Background blur")
    opacity = b.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="seg_live_opacity", disabled=effect != "Colour overlay")
    outline = b.toggle("Outlines only", key="seg_live_outline", disabled=effect != "Colour overlay")
    colour = c.color_picker("Replacement colour", "#00b140", key="seg_live_colour", disabled=effect != "Replace background")
    upload = c.file_uploader("…or a replacement picture", key="seg_live_backdrop", disabled=effect != "Replace background")
    backdrop = None
    if upload is not None:
        try:
            backdrop = LiveBackdrop(decode_upload(upload.getvalue(), upload.name))
        except ImageLoadError as exc:
            c.error(plain(exc))
    rgb_colour = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    colours = class_colours(model.categories)
    visible = np.array([n not in BACKGROUND_NAMES for n in model.categories], dtype=bool)
    mode = {"Background blur": "blur", "Replace background": "replace", "Grey background": "grey"}.get(effect)

    def process_frame(rgb: np.ndarray) -> np.ndarray:
        mask = model.segment(rgb)
        if mode is None:
            return overlay_classes(rgb, mask.classes, colours, opacity=opacity, visible=visible, outline_only=outline)
        replacement = backdrop.fitted(rgb.shape[:2]) if backdrop is not None else None
        return background_effect(rgb, foreground_probability(mask), mode, strength=strength, replacement=replacement,
                                 colour=rgb_colour)

    live_video("segmentation_live", process_frame, engine=functools.partial(engine_label, model),
               help_text=f"{spec.title} runs on every frame; the FPS strip under the video includes the drawing.")


# --- mIoU -----------------------------------------------------------------------------------------

MIOU_HELP = """
**IoU of a class** = overlap ÷ union of the pixels the ground truth and the prediction give that
class, `TP / (TP + FP + FN)`. **mIoU** averages it over classes. Conventions here (PASCAL VOC's,
also torchmetrics'): ground-truth pixels of value **255 are ignored** (VOC marks object borders so);
a class **absent from both** ground truth and prediction has no IoU (0/0) and is **left out of the
mean**; a class present in only one of them scores 0 and counts.

Upload a mask **of exactly the photo's size**: an indexed PNG as VOC ships them, or a greyscale PNG
whose pixel values are class indices (the "Download mask PNG" of the Semantic view is one you can
edit in any paint program).
"""


def miou_section(spec: ModelSpec | None, picked: tuple[np.ndarray, str] | None) -> None:
    st.markdown(MIOU_HELP)
    if spec is None or picked is None:
        st.info("Pick a ready model and a picture; then upload its ground-truth mask.")
        return
    image, name = picked
    mask = segmentation_of(spec, image)
    categories = tuple(mask.categories)
    with st.expander(f"Class indices of {spec.title}"):
        st.dataframe(pd.DataFrame({"index": range(len(categories)), "class": categories}), hide_index=True)
    upload = st.file_uploader("Ground-truth mask (PNG of class indices)", type=["png", "bmp", "tif", "tiff", "gif"],
                              key="seg_miou_truth")
    black_and_white = st.checkbox("Black-and-white mask (0 = background, 255 = object)", key="seg_miou_bw",
                                  disabled=len(categories) != 2,
                                  help="For two-class models: read white as the second class instead of 'ignore'.")
    if upload is None:
        return
    try:
        truth = parse_ground_truth(upload.getvalue(), categories, image.shape[:2], colours=class_colours(categories),
                                   black_and_white=black_and_white, name=upload.name)
    except GroundTruthError as exc:
        st.error(f"Could not use this ground truth: {plain(exc)}")
        return
    result = score(mask.classes, truth, categories)
    a, b, c = st.columns(3)
    a.metric("mIoU", f"{result.miou:.3f}")
    b.metric("Pixel accuracy", f"{result.pixel_accuracy:.3f}")
    c.metric("Ignored pixels (255)", f"{result.ignored_pixels:,}")
    table = pd.DataFrame(result.records())
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"IoU": st.column_config.NumberColumn(format="%.3f"),
                                "in mIoU": st.column_config.CheckboxColumn(help="False: absent from both, left out of the mean")})
    left, right = st.columns(2)
    left.plotly_chart(figures.iou_figure(result), width="stretch", key="seg_miou_bars")
    right.plotly_chart(figures.confusion_figure(result), width="stretch", key="seg_miou_confusion")
    colours = class_colours(categories)
    errors = np.where((truth != 255) & (truth != mask.classes), 1, 0)
    left, middle, right = st.columns(3)
    left.image(colorize(np.where(truth == 255, 0, truth), colours), caption="Ground truth", width="stretch")
    middle.image(colorize(mask.classes, colours), caption="Prediction", width="stretch")
    right.image(overlay_classes(image, errors, np.array([[0, 0, 0], [255, 0, 0]], np.uint8), opacity=0.7,
                                visible=np.array([False, True])), caption="Wrong pixels in red", width="stretch")


# --- how decoders upsample -------------------------------------------------------------------------

def decoders_section(picked_fn: Callable[[], tuple[np.ndarray, str] | None]) -> None:
    view = st.radio("Topic", DECODER_VIEWS, key="seg_dec_view", horizontal=True)
    if view == DECODER_VIEWS[0]:
        transposed_view()
    elif view == DECODER_VIEWS[1]:
        checkerboard_view()
    elif view == DECODER_VIEWS[2]:
        unpooling_view()
    elif view == DECODER_VIEWS[3]:
        atrous_view(picked_fn())
    elif view == DECODER_VIEWS[5]:
        skips_view(picked_fn())
    else:
        spec = pick_semantic("seg_dec_model", "Network to look inside")
        real_decoder_view(spec, picked_fn())


TRANSPOSED_HELP = """
A decoder has to **go up** from a coarse map to pixels. A **transposed convolution** is the learnable
way: every input pixel paints a copy of the kernel, scaled by its value, into the output, with
copies `stride` pixels apart; overlapping copies add up. Written as a matrix it is **Uᵀ**, the
transpose of the convolution matrix **U** that would map the output size back down to the input
size — hence the name. The same result comes from **inserting `stride − 1` zeros** between input
pixels, padding by `k − 1 − p` and running an ordinary convolution with the kernel rotated 180°.
"""


def _editable_grid(values: np.ndarray, key: str) -> np.ndarray:
    frame = pd.DataFrame(values, columns=[str(c) for c in range(values.shape[1])])
    edited = st.data_editor(frame, key=key, hide_index=True, width="content")
    return np.nan_to_num(edited.to_numpy(dtype=np.float64))


def _apply_lecture_example() -> None:
    example = upsampling.WORKED_EXAMPLE
    st.session_state.update({"seg_tc_in_h": 2, "seg_tc_in_w": 2, "seg_tc_kernel": 3, "seg_tc_stride": example.stride,
                             "seg_tc_padding": example.padding, "seg_tc_seed": 0, "seg_tc_lecture": True})


def transposed_view() -> None:
    st.markdown(TRANSPOSED_HELP)
    defaults = {"seg_tc_in_h": 2, "seg_tc_in_w": 2, "seg_tc_kernel": 3, "seg_tc_stride": 1, "seg_tc_padding": 0, "seg_tc_seed": 0, "seg_tc_lecture": True}
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    controls = st.columns(6)
    in_h = controls[0].number_input("Input height", 1, 6, key="seg_tc_in_h")
    in_w = controls[1].number_input("Input width", 1, 6, key="seg_tc_in_w")
    kernel_size = controls[2].number_input("Kernel size", 1, 5, key="seg_tc_kernel")
    stride = controls[3].number_input("Stride", 1, 4, key="seg_tc_stride")
    padding = controls[4].number_input("Padding", 0, 4, key="seg_tc_padding")
    controls[5].button("Lecture example", on_click=_apply_lecture_example, key="seg_tc_example",
                       help="2×2 input (2, 1 / 4, 4), 3×3 kernel (1,4,1 / 1,4,3 / 3,3,1), stride 1, padding 0.")
    lecture = bool(st.session_state.get("seg_tc_lecture")) and (in_h, in_w, kernel_size) == (2, 2, 3)
    if lecture:
        start_input, start_kernel = upsampling.WORKED_EXAMPLE.input, upsampling.WORKED_EXAMPLE.kernel
    else:
        rng = np.random.default_rng(int(st.session_state.get("seg_tc_seed", 0)))
        start_input = rng.integers(0, 5, size=(in_h, in_w)).astype(np.float64)
        start_kernel = rng.integers(0, 5, size=(kernel_size, kernel_size)).astype(np.float64)
    try:
        out_shape = upsampling.output_shape((in_h, in_w), (kernel_size, kernel_size), stride, padding)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.caption(f"Output size: (n − 1)·s − 2p + k = ({in_h} − 1)·{stride} − 2·{padding} + {kernel_size} = "
               f"**{out_shape[0]}** × ({in_w} − 1)·{stride} − 2·{padding} + {kernel_size} = **{out_shape[1]}**")
    left, right = st.columns(2)
    with left:
        st.markdown("**Input** (edit the numbers)")
        x = _editable_grid(start_input, key=f"seg_tc_input_{in_h}_{in_w}_{lecture}_{st.session_state.get('seg_tc_seed')}")
    with right:
        st.markdown("**Kernel** (edit the numbers)")
        k = _editable_grid(start_kernel, key=f"seg_tc_kernel_{kernel_size}_{lecture}_{st.session_state.get('seg_tc_seed')}")
    if st.button("Random numbers", key="seg_tc_random"):
        st.session_state["seg_tc_seed"] = int(st.session_state.get("seg_tc_seed", 0)) + 1
        st.session_state["seg_tc_lecture"] = False
        st.rerun()
    matrix = upsampling.transposed_conv_matrix(x.shape, k, stride, padding)
    via_matrix = upsampling.transposed_conv_via_matrix(x, k, stride, padding)
    expanded, via_zeros = upsampling.transposed_conv_via_zero_insertion(x, k, stride, padding)
    reference = _torch_reference(x, k, stride, padding)
    agree = np.allclose(via_matrix, reference) and np.allclose(via_zeros, reference)
    st.plotly_chart(figures.transposed_matrix_figure(matrix, x.shape, out_shape), width="stretch", key="seg_tc_matrix")
    st.caption("Each column is one input pixel's painted kernel (flattened row by row); output = Uᵀ · vec(input).")
    a, b, c = st.columns(3)
    a.plotly_chart(figures.grid_heatmap(via_matrix, "Output = Uᵀ·x"), width="stretch", key="seg_tc_out")
    b.plotly_chart(figures.grid_heatmap(expanded, f"Zero-inserted, padded input ({stride - 1} zeros between, "
                                                  f"{kernel_size - 1 - padding} around)", colorscale="Greens"),
                   width="stretch", key="seg_tc_zeros")
    c.plotly_chart(figures.grid_heatmap(k[::-1, ::-1], "Kernel rotated 180° (convolved over the left map)", colorscale="Oranges"),
                   width="stretch", key="seg_tc_flipped")
    if agree:
        st.success("Uᵀ·x, zero insertion + convolution and torch.nn.functional.conv_transpose2d give the same output.")
    else:  # would mean a bug in the maths module; shown rather than hidden
        st.error(f"The three computations disagree (max difference {np.abs(via_matrix - reference).max():.3g}).")
    if lecture and np.array_equal(x, upsampling.WORKED_EXAMPLE.input) and np.array_equal(k, upsampling.WORKED_EXAMPLE.kernel):
        st.info("The lecture's worked example: stride **1**, padding **0** turn the 2×2 input into the 4×4 output "
                "2, 9, 6, 1 / 6, 29, 30, 7 / 10, 29, 33, 13 / 12, 24, 16, 4 (stride 2 would give 5×5).")


def _torch_reference(x: np.ndarray, k: np.ndarray, stride: int, padding: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    return F.conv_transpose2d(torch.from_numpy(x)[None, None], torch.from_numpy(k.copy())[None, None],
                              stride=stride, padding=padding)[0, 0].numpy()


CHECKERBOARD_HELP = """
Give a transposed convolution a **constant** input and a kernel of ones and count how many kernel
copies land on each output pixel. When the **kernel size is not a multiple of the stride** the copies
overlap unevenly: some pixels get more taps than their neighbours — the **checkerboard** (Odena,
Dumoulin & Olah, 2016). Stacking layers compounds it. The usual fix, **resize (nearest or bilinear)
then convolve**, gives every pixel the same number of taps.
"""


def checkerboard_view() -> None:
    st.markdown(CHECKERBOARD_HELP)
    a, b, c, d = st.columns(4)
    kernel_size = a.slider("Kernel size", 1, 7, 3, key="seg_cb_kernel")
    stride = b.slider("Stride", 1, 4, 2, key="seg_cb_stride")
    layers = c.slider("Stacked layers", 1, 3, 1, key="seg_cb_layers")
    size = d.slider("Input size", 3, 10, 6, key="seg_cb_size")
    transposed = upsampling.overlap_counts((size, size), kernel_size, stride, 0, layers)
    resized = upsampling.resize_conv_counts((size, size), kernel_size, stride, layers)
    margin = kernel_size * layers
    uneven_t = upsampling.unevenness(transposed, margin)
    uneven_r = upsampling.unevenness(resized, margin)
    left, right = st.columns(2)
    left.plotly_chart(figures.grid_heatmap(transposed, "Transposed convolution: taps per output pixel", colorscale="Magma",
                                           show_values=transposed.shape[0] <= 16), width="stretch", key="seg_cb_t")
    right.plotly_chart(figures.grid_heatmap(resized, "Resize, then convolution: taps per output pixel", colorscale="Magma",
                                            show_values=resized.shape[0] <= 16), width="stretch", key="seg_cb_r")
    m1, m2 = st.columns(2)
    m1.metric("Unevenness, transposed (max ÷ min, interior)", f"{uneven_t:.2f}")
    m2.metric("Unevenness, resize-convolution", f"{uneven_r:.2f}")
    st.plotly_chart(figures.profile_figure(transposed, resized), width="stretch", key="seg_cb_profile")
    if kernel_size % stride == 0:
        st.success(f"{kernel_size} is a multiple of {stride}: the copies tile evenly — no checkerboard from overlap.")
    else:
        st.warning(f"{kernel_size} is not a multiple of {stride}: uneven overlap. Try kernel {stride * max(1, round(kernel_size / stride))} "
                   f"with stride {stride}, or resize-convolution.")


def unpooling_view() -> None:
    st.markdown("""
Before transposed convolutions learned to upsample, decoders used **fixed** ones. Pool a 4×4 map
2×2, then undo it three ways: **nearest neighbour** copies each value into its 2×2 block; **bed of
nails** puts it in the top-left corner and zeros elsewhere; **max unpooling** (SegNet) remembers
*where* each maximum came from (the pooling "switches") and puts it back there.
""")
    seed = st.number_input("Random map", 0, 999, 3, key="seg_unpool_seed")
    x = np.random.default_rng(int(seed)).integers(0, 10, size=(4, 4)).astype(np.float64)
    results = upsampling.unpooling_examples(x)
    columns = st.columns(5)
    columns[0].plotly_chart(figures.grid_heatmap(x, "Input 4×4"), width="stretch", key="seg_unpool_in")
    for column, name in zip(columns[1:], ("pooled", "nearest neighbour", "bed of nails", "max unpooling")):
        column.plotly_chart(figures.grid_heatmap(results[name], name.capitalize()), width="stretch", key=f"seg_unpool_{name}")


ATROUS_HELP = """
An **atrous (dilated)** 3×3 kernel with rate *r* samples the feature map *r* cells apart: still 9
weights, but it spans `2r + 1` cells. DeepLabV3's **ASPP** runs rates 6, 12 and 18 in parallel (at
output stride 16; torchvision's VOC models use 12/24/36) plus a 1×1 convolution and global pooling, so
one layer sees context at several scales without losing resolution. Below, each rate's 9 taps are
drawn at the size they have on *your* picture.
"""


def atrous_view(picked: tuple[np.ndarray, str] | None) -> None:
    st.markdown(ATROUS_HELP)
    controls, view = st.columns([1, 2])
    with controls:
        rates = st.multiselect("Dilation rates", [1, 2, 3, 6, 12, 18, 24, 36], default=[1, 6, 12, 18], key="seg_atrous_rates")
        output_stride = st.radio("Feature map stride (output stride)", [8, 16], index=1, key="seg_atrous_stride", horizontal=True)
        network_side = st.number_input("Network input, shorter side (px)", 128, 1024, 513, key="seg_atrous_side",
                                       help="DeepLab resizes the picture to about 513 pixels; the taps scale with it.")
        cx = st.slider("Centre x (%)", 0, 100, 50, key="seg_atrous_x")
        cy = st.slider("Centre y (%)", 0, 100, 45, key="seg_atrous_y")
    rows = [{"rate": r, "span (cells)": upsampling.atrous_extent(r), "span (network px)": upsampling.atrous_extent(r) * output_stride,
             "weights": 9} for r in sorted(rates)]
    with view:
        if picked is not None and rates:
            image, _ = picked
            cell = output_stride * min(image.shape[:2]) / float(network_side)
            drawn = upsampling.draw_atrous_footprints(image, (cx / 100 * image.shape[1], cy / 100 * image.shape[0]), rates, cell)
            st.image(drawn, caption=f"One cell = {cell:.1f} picture pixels. Colours: "
                                    + ", ".join(f"rate {r} {upsampling.rate_colour(r, i)}" for i, r in enumerate(sorted(rates, reverse=True))),
                     width="stretch")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if rates:
        columns = st.columns(min(len(rates), 4))
        largest = upsampling.atrous_extent(max(rates)) + 2
        for column, rate in zip(columns, sorted(rates)[:4]):
            column.plotly_chart(figures.grid_heatmap(upsampling.atrous_grid(rate, 3, largest), f"rate {rate}: taps on the feature grid",
                                                     colorscale="Greys", show_values=False, zmin=0, zmax=1),
                                width="stretch", key=f"seg_atrous_grid_{rate}")


REAL_DECODER_HELP = """
The network below ran once on your picture with **forward hooks** on every layer. The *resolution
path* keeps, for each run of layers at one size, its last map: down through the encoder, then —
in encoder-decoder networks like the person segmenters — back up through the decoder's transposed
convolutions and resizes. Maps are coloured by the 3 main directions of their channels (similar
colour = the network treats those cells alike) or by activation strength. torchvision's FCN-style
ResNet-50 (no skip fusion, unlike the lectures' FCN-16s/8s) and DeepLabV3 instead stay at stride 8/16 with dilated convolutions and upsample the **coarse score map**
in one bilinear step: compare the blocky coarse prediction with the final one.
"""


def real_decoder_view(spec: ModelSpec | None, picked: tuple[np.ndarray, str] | None) -> None:
    st.markdown(REAL_DECODER_HELP)
    if spec is None or picked is None:
        st.info("Pick a ready model and a picture.")
        return
    image, _ = picked
    model = cached_model(spec.name)
    trace: DecoderTrace = _remember(("trace", spec.name, image_digest(image)), lambda: _run_with_progress(
        [(f"Running {spec.title} with hooks on every layer…", lambda: trace_decoder(model, image, spec.name))])[0])
    st.markdown(f"Network input: **{trace.network_input[0]}×{trace.network_input[1]}** pixels.")
    for note in trace.notes:
        st.markdown(f"- {note}")
    style = st.radio("Colour maps by", ["channel directions (PCA)", "activation strength"], key="seg_dec_style", horizontal=True)
    st.subheader("Resolution path")
    _stage_grid(trace.path, style, "path")
    if trace.named:
        st.subheader("Parts of the head")
        _stage_grid(trace.named, style, "named")
    if trace.upsampling:
        st.subheader("Upsampling layers")
        st.dataframe(pd.DataFrame([{
            "layer": u.name, "kind": u.kind, "in": f"{u.input_shape[0]}×{u.input_shape[1]}",
            "out": f"{u.output_shape[0]}×{u.output_shape[1]}", "kernel": u.kernel, "stride": u.stride, "padding": u.padding,
            "overlap unevenness": u.overlap_unevenness} for u in trace.upsampling]), hide_index=True, width="stretch")
    st.subheader("Coarse scores → final prediction")
    # (stage, its class probabilities) for the stages that have them
    score_maps = [(s, s.scores) for s in trace.named + trace.path if s.scores is not None]
    mask = trace.mask
    categories = list(mask.categories)
    present = [categories[i] for i in np.unique(mask.classes)] or categories
    default = next((c for c in present if c not in BACKGROUND_NAMES), present[0])
    chosen = st.selectbox("Class", categories, index=categories.index(default), key="seg_dec_class")
    index = categories.index(chosen)
    parts = [(s, s.logits) for s in trace.named
             if s.logits is not None and s.name != "classifier" and s.logits.shape[0] == len(categories)]
    if parts:
        st.caption("The head's summands for this class (raw scores; their sum is the coarse score map):")
        for column, (part, logits) in zip(st.columns(len(parts)), parts):
            column.plotly_chart(figures.map_heatmap(logits[index], f"{part.title} · {chosen}", colorscale="RdBu_r"),
                                width="stretch", key=f"seg_dec_part_{part.name}")
    columns = st.columns(3)
    if score_maps:
        coarse, coarse_scores = score_maps[-1]
        cells = f"{coarse.shape[1]}×{coarse.shape[2]} cells, stride {coarse.stride:g}"
        if coarse_scores.shape[0] == len(categories):
            columns[0].plotly_chart(figures.map_heatmap(coarse_scores[index], f"Network's P({chosen}) · {cells}", zmin=0, zmax=1),
                                    width="stretch", key="seg_dec_coarse")
            columns[1].plotly_chart(figures.rgb_figure(colorize(coarse_scores.argmax(axis=0), class_colours(categories)),
                                                       f"Its argmax per cell · {cells}"), width="stretch", key="seg_dec_coarse_argmax")
        elif coarse_scores.shape[0] == 1:
            columns[0].plotly_chart(figures.map_heatmap(coarse_scores[0], f"Network's P({categories[-1]}) (sigmoid) · {cells}", zmin=0, zmax=1),
                                    width="stretch", key="seg_dec_coarse")
    if mask.probabilities is not None:
        step = max(1, max(mask.classes.shape) // 400)
        final_column = columns[2] if score_maps and score_maps[-1][1].shape[0] == len(categories) else columns[1]
        final_column.plotly_chart(figures.map_heatmap(mask.probabilities[index][::step, ::step],
                                                    f"Final P({chosen}) at picture size {mask.classes.shape[1]}×{mask.classes.shape[0]}",
                                                    zmin=0, zmax=1), width="stretch", key="seg_dec_final")
    st.image(overlay_classes(image, mask.classes, class_colours(categories), opacity=0.6,
                             visible=np.array([c not in BACKGROUND_NAMES for c in categories])),
             caption="Final prediction at the picture's size", width="stretch")


def _stage_grid(stages: list, style: str, key: str, per_row: int = 4) -> None:
    for start in range(0, len(stages), per_row):
        columns = st.columns(per_row)
        for column, stage in zip(columns, stages[start:start + per_row]):
            title = f"{stage.title}<br>{stage.size_label} · stride {stage.stride:g}"
            if style.startswith("channel") and stage.pca is not None:
                figure = figures.rgb_figure(stage.pca, title, height=260)
            else:
                figure = figures.map_heatmap(stage.energy, title, height=260)
            column.plotly_chart(figure, width="stretch", key=f"seg_dec_{key}_{start}_{stage.name}")


def _photo_and_model(semantic: bool) -> tuple[ModelSpec | None, tuple[np.ndarray, str] | None]:
    """The photo views' shared inputs: a picture and, for the semantic ones, a model."""
    inputs, _ = st.columns([2, 1])
    with inputs:
        picked = picture("seg_image")
        spec = pick_semantic() if semantic else None
    return spec, picked


def semantic_view() -> None:
    semantic_section(*_photo_and_model(semantic=True))


def instances_view() -> None:
    instances_section(_photo_and_model(semantic=False)[1])


def miou_view() -> None:
    miou_section(*_photo_and_model(semantic=True))


def gated_shape_view() -> None:
    gated_shape_section(*_photo_and_model(semantic=True), segment=segmentation_of)


def decoders_view() -> None:
    decoders_section(lambda: picture("seg_image"))


# --- the page's views, in the order shown: title → view (cvdemo.ui.views.show_views) ---------------

VIEWS = {
    "Semantic (photo)": semantic_view,
    "Instances (photo)": instances_view,
    "Live webcam": live_section,
    "mIoU vs. ground truth": miou_view,
    "How decoders upsample": decoders_view,
    "Gated-SCNN shape stream": gated_shape_view,
}
