"""Widgets and layout of the architectures page; the computations live in :mod:`cvdemo.architectures`.

``pages/6_Architectures.py`` calls one ``*_section`` function per view.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st
from torch.fx.proxy import TraceError

from cvdemo.architectures import augment, catalog, figures, table, transfer
from cvdemo.architectures.convolutionalize import (ClassMap, check_equal, class_map,
                                                   describe_conversion, find_pooled_head)
from cvdemo.architectures.explorer import effective_field, fit_to_input, load_network, weights_ready
from cvdemo.architectures.graph import LayerGraph, analyse
from cvdemo.fx_geometry import GraphError
from cvdemo.images import ImageLoadError, fit_longest_side, load_image
from cvdemo.registry import Task
from cvdemo.ui.arithmetic_view import arithmetic_section
from cvdemo.ui.clever_hans_view import clever_hans_section
from cvdemo.ui.efficiency_view import efficiency_section
from cvdemo.ui.common import (SessionMemo, bounded_slider, cached_model, current_device, download_png, image_digest,
                              image_input, plain)
from cvdemo.ui.generalization_view import generalization_section
from cvdemo.ui.residuals_view import residuals_section


_remember = SessionMemo("architectures", size=8)


# --- the table -----------------------------------------------------------------------------------

TABLE_HELP = """
Counted here on torchvision's own builders, **without any weights** (on PyTorch's `meta` device):
parameters with `numel`, operations with `torch.utils.flop_counter.FlopCounterMode`.
**MACs** are multiply-accumulates — what most papers call "FLOPs" or "mult-adds";
**FLOPs = 2 × MACs** is what `FlopCounterMode` reports. Only convolutions, dense layers and
attention are counted (as in the papers), not activations, pooling or normalisation.
**Depth** is the number of weighted layers on the longest path from input to output
(ResNet-152: 152; its four 1×1 shortcut projections are on shorter paths).
Accuracy is ImageNet-1K top-1 from the weights' metadata (single 224 crop, 299 for Inception v3).
"""


def table_rows(names: list[str]) -> list[dict]:
    missing = table.pending(names)
    if missing:
        bar = st.progress(0.0, text="Counting…")

        def progress(done: int, total: int, title: str) -> None:
            bar.progress(done / max(total, 1), text=f"Counting {title} ({done + 1}/{total}) — once, then cached" if title else "Done")

        rows = table.table(names, progress=progress)
        bar.empty()
    else:
        rows = table.table(names)
    for row in rows:
        row["weights_status"] = table.weights_status(row)
    return rows


def table_section() -> None:
    st.markdown(TABLE_HELP)
    all_names = [n.name for n in catalog.NETWORKS]
    names = st.multiselect("Networks", all_names, default=all_names, key="arch_table_names",
                           format_func=lambda n: catalog.get(n).title)
    if not names:
        st.info("Pick at least one network.")
        return
    rows = table_rows(names)
    frame = pd.DataFrame(table.display_rows(rows))
    frame["weights"] = [row["weights_status"] for row in rows]
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "dense params %": st.column_config.ProgressColumn("dense params %", min_value=0, max_value=100, format="%.1f"),
        "idea": st.column_config.TextColumn("idea", width="large"),
        "weights": st.column_config.TextColumn("weights", help="ready: on this machine; downloadable: from the torchvision zoo (needs internet)"),
    })
    st.caption("AlexNet (2012, two-GPU) has no count at 224×224: its dense layers need the paper's 227×227 input. "
               "Inception v3 is counted at 224 and, beside it, at its own 299.")
    left, right = st.columns(2)
    with left:
        st.download_button("Download table (CSV)", frame.to_csv(index=False).encode(), "architectures.csv", "text/csv", key="arch_csv")
    with right:
        st.download_button("Download raw rows (JSON)", json.dumps(rows, indent=1).encode(), "architectures.json", "application/json",
                           key="arch_json")

    st.subheader("Accuracy against cost")
    recipe = st.radio("Weights", ["original training recipe", "best torchvision weights"], horizontal=True, key="arch_recipe",
                      help="ResNet-50 gains 4.7 points from a better training recipe alone (torchvision's V2 weights): "
                           "the architecture is not the only thing that moved the field.")
    st.plotly_chart(figures.accuracy_vs_macs(rows, "original" if recipe.startswith("original") else "best"), key="arch_scatter")
    st.caption("Like Canziani et al. (2016): accuracy rises with operations, but not in proportion — "
               "VGG-16 needs 10× GoogLeNet's operations for under 2 points more, while MobileNetV2 matches VGG-16's "
               "accuracy with 1/50 of its operations. Operations are counted at each network's own input size.")
    st.plotly_chart(figures.parameter_breakdown(rows), key="arch_params_bar")
    st.caption("AlexNet and VGG keep 86–96% of their parameters in the dense layers; from GoogLeNet on, global average "
               "pooling replaces them and the parameters move into convolutions. (ConvNeXt and ViT write their "
               "per-position 1×1 layers as dense layers, so they count as dense here.)")

    st.subheader("Beside the figures quoted in lectures and papers")
    comparison = pd.DataFrame(table.seed_comparison(rows))
    if comparison.empty:
        st.caption("No quoted figures for these networks.")
    else:
        st.dataframe(comparison, hide_index=True, width="stretch",
                     column_config={"why": st.column_config.TextColumn("why they differ", width="large")})


# --- layer explorer ------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=12)
def _graph(name: str, size: int) -> LayerGraph:
    # Shared by all sessions and never modified: the analysis runs on a weightless meta copy.
    return analyse(catalog.get(name).build("meta"), (size, size), name)


@st.cache_resource(show_spinner=False, max_entries=2)  # VGG alone is 0.5 GB
def _network(name: str, device: str) -> tuple[Any, bool]:
    return load_network(catalog.get(name), device)


LAYERS_HELP = """
For every layer: its output shape and its **receptive field** — the input pixels one output unit
can see — as *size*, *jump* (distance in input pixels between neighbouring units: the product of
the strides so far) and *start* (centre of the first unit's field). They follow layer by layer
from `size' = size + (k − 1)·d·jump`, `jump' = jump·stride`; where branches meet (ResNet's add,
Inception's concat) the field is the union. Pick a layer and a unit to see its field on your photo.
"""


def _default_layer(layers, size: int) -> int:
    """A late convolution whose field is still smaller than the input: the interesting case."""
    convs = [i for i, layer in enumerate(layers) if layer.weighted]
    for index in reversed(convs):
        if max(layers[index].field.size) <= 0.8 * size:
            return index
    return convs[len(convs) // 2] if convs else 0


def layers_section() -> None:
    st.markdown(LAYERS_HELP)
    names = [n.name for n in catalog.NETWORKS]
    controls, picture_column = st.columns([1, 1])
    with controls:
        name = st.selectbox("Network", names, index=names.index("vgg16"), key="arch_layers_net",
                            format_func=lambda n: catalog.get(n).title)
        spec = catalog.get(name)
        if spec.fixed_input:
            size = spec.input_size
            st.caption(f"{spec.title} takes {size}×{size} inputs only.")
        else:
            size = int(st.number_input("Input size (pixels, square)", 64, 640, spec.input_size, step=16, key="arch_layers_size"))
        try:
            graph = _remember(("graph", name, size), lambda: _with_spinner(f"Tracing {spec.title}…", lambda: _graph(name, size)))
        except (RuntimeError, ValueError, AssertionError, TraceError) as exc:
            # e.g. Inception v3 below ~75 px: its pooling shrinks the map to nothing.
            advice = "" if spec.fixed_input else " Try a larger input size."
            reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0].rstrip(".")  # not torch.fx's trace dump
            st.error(f"{spec.title} could not be traced at {size}×{size}: {reason}.{advice}")
            return
        spatial = graph.spatial_layers()
        a, b, c = st.columns(3)
        a.metric("Depth (weighted layers)", graph.depth)
        b.metric("G mult-adds", f"{graph.total_macs / 1e9:.3f}")
        c.metric("Receptive field, last map", f"{max(spatial[-1].field.size):g} px" if spatial else "—")
    st.plotly_chart(figures.receptive_field_growth(graph), key="arch_rf_growth")
    with st.expander(f"All {len(graph.layers)} layers of {spec.title} at {size}×{size}", expanded=False):
        st.dataframe(pd.DataFrame(graph.rows()), hide_index=True, width="stretch", height=420)

    if not spatial:
        st.info("This network has no spatial layer to show.")
        return
    with picture_column:
        picked = image_input("arch_layers_image", "Photo")
    choices = [layer.name for layer in spatial]
    default = _default_layer(spatial, size)
    left, right = st.columns([1, 1])
    with left:
        layer_name = st.selectbox("Layer", choices, index=default, key=f"arch_layers_layer_{name}_{size}",
                                  format_func=lambda n: f"{n} · {graph[n].op} · {'×'.join(map(str, graph[n].shape))}")
        layer = graph[layer_name]
        _, rows, cols = layer.shape
        row = bounded_slider(st, "Unit row", 0, rows - 1, rows // 2, key=f"arch_layers_row_{name}_{size}_{layer_name}")
        col = bounded_slider(st, "Unit column", 0, cols - 1, cols // 2, key=f"arch_layers_col_{name}_{size}_{layer_name}")
        field = layer.field
        x1, y1, x2, y2 = field.box(row, col)
        inside = (min(x2, size - 1) - max(x1, 0) + 1) * (min(y2, size - 1) - max(y1, 0) + 1)
        st.markdown(
            f"Unit **({row}, {col})** of `{layer_name}` sees input columns **{x1:g}…{x2:g}** and rows **{y1:g}…{y2:g}**: "
            f"a field of **{field.size[0]:g}×{field.size[1]:g}** px with jump **{field.jump[0]:g}** and start "
            f"**{field.start[0]:g}**; {100 * inside / (field.size[0] * field.size[1]):.0f}% of it lies on the image, the rest in the padding."
            + (" A squeeze-and-excitation gate also feeds it a global summary of the image." if field.gated else "")
        )
        show_grid = st.checkbox("Show the centres of all units of this layer", value=rows * cols <= 900, key="arch_layers_grid")
        ready = weights_ready(spec)
        gradient = st.checkbox(
            "Overlay the gradient-based (effective) field" + (" — real ImageNet weights" if ready else " — random weights"),
            key="arch_layers_gradient",
            help="|∂ unit / ∂ pixel| on your photo. With trained weights most of the influence sits in the centre of the "
                 "theoretical field (Luo et al. 2016: the effective receptive field is much smaller and roughly Gaussian).",
        )
    if picked is None:
        return
    image, image_name = picked
    framed = fit_to_input(image, size)
    heatmap = None
    if gradient:
        network, real = _network(name, str(current_device()))
        heatmap = _remember(("effective", name, size, layer_name, row, col, image_digest(framed)), lambda: _with_spinner(
            "Back-propagating from the unit…", lambda: effective_field(network, layer_name, row, col, framed, size)))
        heatmap = np.sqrt(heatmap)  # gradients are heavy-tailed; the square root shows their extent
    drawn = figures.draw_receptive_field(framed, field, row, col, (rows, cols) if show_grid else None, heatmap)
    with right:
        st.image(drawn, caption=f"{plain(image_name)}, resized and centre-cropped to {size}×{size}: yellow = receptive field of the red unit"
                 + (", blue dots = centres of the other units" if show_grid else ""), width="stretch")
        download_png(drawn, f"receptive_field_{name}_{layer_name}.png", key="arch_layers_download")


def _with_spinner(text: str, compute: Callable[[], Any]) -> Any:
    with st.spinner(text):
        return compute()


# --- convolutionalization ------------------------------------------------------------------------

CONV_HELP = """
A dense layer on a flattened C×k×k map computes exactly what a **k×k convolution** with C input
channels computes at one position; the dense layers after it are **1×1 convolutions**. Rewriting
them so (Long et al.'s "convolutionalization", the step from a classifier to an FCN) changes no
weight — here the convolution weights are literally views of the dense weights — but the network
now accepts any input size and returns a **map of class scores** instead of one label.
"""


@st.cache_resource(show_spinner=False, max_entries=2)
def _equality(name: str, device: str) -> tuple[Any, list[dict], bool]:
    network, real = load_network(catalog.get(name), device)
    return check_equal(network, 224, 384, device=device), describe_conversion(network), real


@st.cache_data(show_spinner=False)
def _has_pooled_head(name: str) -> bool:
    """Whether the registry model ends in global pooling + one dense layer (checked on a
    weightless copy when the registry names a torchvision builder, else on the loaded model)."""
    from cvdemo.registry import get

    builder = get(name).torchvision_builder
    try:
        if builder:
            import torch
            import torchvision

            with torch.device("meta"):
                network = torchvision.models.get_model(builder, weights=None)
        else:
            network = cached_model(name).network
        find_pooled_head(network)
        return True
    except (TypeError, TraceError, GraphError):  # several dense layers at the end, or not traceable
        return False


def _class_map_models() -> list[str]:
    """Ready classifiers that can be convolutionalized: pooled heads, and AlexNet/VGG once their
    weights are downloaded."""
    from cvdemo.registry import all_models

    pooled = [name for name in transfer.backbone_names() if _has_pooled_head(name)]
    dense = [s.name for s in all_models(Task.CLASSIFICATION) if s.torchvision_builder.startswith(("alexnet", "vgg")) and s.ready]
    return pooled + dense


def convolutionalization_section() -> None:
    st.markdown(CONV_HELP)
    st.subheader("1 · AlexNet / VGG: dense layers become k×k and 1×1 convolutions")
    name = st.selectbox("Network", ["alexnet", "vgg11", "vgg16", "vgg19"], key="arch_conv_net",
                        format_func=lambda n: catalog.get(n).title)
    spec = catalog.get(name)
    real = weights_ready(spec)
    if real:
        st.success(f"Real ImageNet weights of {spec.title} are on this machine: the check below uses them.")
    else:
        st.warning(f"**Random weights** — {spec.title}'s ImageNet weights are not on this machine (offline they are only "
                   f"downloadable: `python -m cvdemo weights fetch {spec.original_weights}`). Random weights are enough to "
                   "show that the two networks compute the same function; for a real class map see part 2.")
    with st.spinner(f"Building {spec.title} and running both versions at 224×224 and 384×384…"):
        check, conversion, used_real = _equality(name, str(current_device()))
    st.dataframe(pd.DataFrame(conversion), hide_index=True, width="stretch")
    a, b, c = st.columns(3)
    a.metric("Largest |difference| of the logits at 224×224", f"{check.max_abs_difference:.1e}")
    b.metric("Output at 224×224", "×".join(map(str, check.map_shape[1:])))
    c.metric(f"Output at {check.larger_size}×{check.larger_size}", "×".join(map(str, check.larger_map_shape[1:])))
    if check.equal:
        st.success(f"Same weights, same logits at 224×224 ({'real' if used_real else 'random'} weights; tolerance 1e-4). "
                   f"On a {check.larger_size}×{check.larger_size} image the convolutional version slides the classifier over "
                   f"the image: {check.larger_map_shape[2]}×{check.larger_map_shape[3]} positions, each with 1000 class scores.")
    else:
        st.error(f"The two versions disagree by {check.max_abs_difference:.2e}.")

    st.subheader("2 · A real class map on your photo")
    st.markdown(
        "MobileNetV2 (ready offline) ends in global average pooling and **one** dense layer. Moving that dense layer "
        "*before* the pooling makes it a 1×1 convolution over the last feature map: its output is a class-score map, and "
        "the average of the map is exactly the network's usual output (a linear map commutes with the average). "
        "This is also how a class activation map (CAM) is made. Once AlexNet's or VGG-16's weights are downloaded they "
        "appear here too, with the k×k/1×1 convolutions of part 1.")
    options = _class_map_models()
    if not options:
        st.warning("No ImageNet classifier with a pooled head is ready offline.")
        return
    left, right = st.columns([1, 1])
    with left:
        model_name = st.selectbox("Classifier (ready offline)", options, key="arch_conv_model")
        picked = image_input("arch_conv_image", "Photo", default_sample="cat (Chelsea)")
        short_side = st.slider("Shorter side of the input (pixels)", 224, 672, 448, step=32, key="arch_conv_side",
                               help="The same weights run at any size; larger inputs give finer maps (one score per 32 pixels).")
    if picked is None:
        return
    image, image_name = picked
    classifier = cached_model(model_name)
    result: ClassMap = _remember(("classmap", model_name, short_side, image_digest(image)), lambda: _with_spinner(
        f"Running {model_name} fully convolutionally at {short_side} px…", lambda: class_map(classifier, image, short_side)))
    top = result.top_classes(5)
    with left:
        st.markdown("**Average of the map (= the network's own prediction):**  \n" +
                    "  \n".join(f"{p * 100:.1f}% {label}" for _, label, p in top))
        class_index = st.selectbox("Class to map", [i for i, _, _ in top] + [i for i in range(len(result.categories)) if i not in {t[0] for t in top}],
                                   key="arch_conv_class", format_func=lambda i: result.categories[i])
        kind = st.radio("Map", ["probability per position", "raw class score (CAM)"], horizontal=True, key="arch_conv_kind")
    heat = result.heatmap(class_index, "probability" if kind.startswith("probability") else "score")
    blended = figures.overlay_heatmap(image, heat, 0.55, normalise=not kind.startswith("probability"))
    with right:
        st.image(blended, caption=f"'{result.categories[class_index]}' over {plain(image_name)}: a {heat.shape[0]}×{heat.shape[1]} map "
                 f"from a {result.input_size[1]}×{result.input_size[0]} input (peak {heat.max():.2f})", width="stretch")
        download_png(blended, f"class_map_{result.categories[class_index].replace(' ', '_')}.png", key="arch_conv_download")


# --- augmentation --------------------------------------------------------------------------------

AUG_HELP = """
torchvision's **transforms v2** change the image *and* its annotations together: a flip or
rotation moves the box (`tv_tensors.BoundingBoxes`) and the object mask (`tv_tensors.Mask`)
with the pixels; colour, noise and weather effects leave them alone. Boxes are then clamped
to the image and dropped if they vanish, as a detection training pipeline does. The seed makes
every random draw reproducible.
"""


def _object_source(image: np.ndarray) -> tuple[list, np.ndarray | None, list[str], str]:
    """Boxes, masks and labels from the user's choice."""
    height, width = image.shape[:2]
    choices = ["central box", "my box"]
    detectors = transfer_ready(Task.DETECTION)
    segmenters = transfer_ready(Task.INSTANCE_SEGMENTATION)
    if segmenters:
        choices.append("instance segmenter (box + mask)")
    if detectors:
        choices.append("detector (box)")
    source = st.radio("Object", choices, horizontal=True, key="arch_aug_source",
                      help="Without a segmenter the mask is the ellipse inscribed in the box.")
    if source == "my box":
        x = st.slider("Box: left … right", 0, width, (width // 4, 3 * width // 4), key="arch_aug_box_x")
        y = st.slider("Box: top … bottom", 0, height, (height // 4, 3 * height // 4), key="arch_aug_box_y")
        if x[1] - x[0] < 2 or y[1] - y[0] < 2:
            st.warning("The box is empty; using the central box.")
            return [augment.default_box(height, width)], None, ["object"], "central box"
        return [(x[0], y[0], x[1], y[1])], None, ["object"], "your box"
    if source.startswith("instance"):
        model = cached_model(segmenters[0])
        found = _remember(("instances", segmenters[0], image_digest(image)),
                          lambda: _with_spinner("Finding objects…", lambda: model.segment_instances(image)))
        if len(found):
            best = int(np.argmax(found.scores))
            return [found.boxes[best]], found.masks[best][None], [found.label_names[best]], f"{segmenters[0]}'s best object"
        st.info("The segmenter found no object; using the central box.")
    if source.startswith("detector"):
        model = cached_model(detectors[0])
        found = _remember(("detections", detectors[0], image_digest(image)),
                          lambda: _with_spinner("Detecting…", lambda: model.detect(image)))
        if len(found):
            best = int(np.argmax(found.scores))
            return [found.boxes[best]], None, [found.label_names[best]], f"{detectors[0]}'s best box"
        st.info("The detector found nothing; using the central box.")
    return [augment.default_box(height, width)], None, ["object"], "central box"


def transfer_ready(task: Task) -> list[str]:
    from cvdemo.registry import ready_models

    return [spec.name for spec in ready_models(task)]


def _new_seed() -> None:
    st.session_state["arch_aug_seed"] = int(np.random.default_rng().integers(0, 100_000))


def augmentation_section() -> None:
    st.markdown(AUG_HELP)
    left, right = st.columns([1, 2])
    with left:
        picked = image_input("arch_aug_image", "Photo")
        if picked is None:
            return
        image, image_name = picked
        image = fit_longest_side(image, 640)  # 25 augmentations of a 12-megapixel photo would take minutes
        boxes, masks, labels, described = _object_source(image)
        st.session_state.setdefault("arch_aug_seed", 0)
        seed = int(st.number_input("Random seed", 0, 2**31 - 1, key="arch_aug_seed",
                                   help="The same seed, photo and settings always give the same pictures."))
        st.button("🎲 New seed", on_click=_new_seed, key="arch_aug_reseed")
        strength = st.slider("Strength", 0.0, 1.0, 0.5, 0.05, key="arch_aug_strength")
        mode = st.radio("Show", ["one group, each once", "one augmentation, 8 draws"], key="arch_aug_mode")
        if mode.startswith("one group"):
            group = st.selectbox("Group", augment.GROUPS, key="arch_aug_group")
            jobs = [(name, seed) for name in augment.by_group()[group]]
        else:
            name = st.selectbox("Augmentation", list(augment.AUGMENTATIONS), key="arch_aug_name")
            jobs = [(name, seed + i) for i in range(8)]
    sample = augment.make_sample(image, boxes, masks, labels)
    with right:
        st.image(figures.draw_sample(sample.image, sample.boxes, sample.masks, sample.labels),
                 caption=f"{plain(image_name)} with {described} and its mask", width="stretch")
    key = ("augment", image_digest(image), tuple(map(tuple, np.round(sample.boxes, 1))), masks is not None, strength, tuple(jobs))
    results = st.session_state.get("_arch_aug_last")
    if results is None or results[0] != key:
        bar = st.progress(0.0, text="Augmenting…")
        outputs = []
        for index, (name, job_seed) in enumerate(jobs):
            bar.progress(index / len(jobs), text=f"{name} (seed {job_seed})")
            outputs.append((name, job_seed, augment.apply(sample, name, job_seed, strength)))
        bar.empty()
        st.session_state["_arch_aug_last"] = (key, outputs)
    else:
        outputs = results[1]
    columns = st.columns(4)
    for index, (name, job_seed, out) in enumerate(outputs):
        augmentation = augment.AUGMENTATIONS[name]
        with columns[index % 4]:
            st.image(figures.draw_sample(out.image, out.boxes, out.masks, out.labels), width="stretch",
                     caption=f"{name} · seed {job_seed}" + ("" if augmentation.supports_boxes else " · image only (torchvision does not transform boxes for this policy)")
                     + ("" if not augmentation.supports_boxes or len(out.boxes) else " · box dropped (left the image)"))
    with st.expander("What each augmentation does"):
        st.dataframe(pd.DataFrame([{"augmentation": a.name, "group": a.group, "moves boxes": a.geometric, "what": a.description}
                                   for a in augment.AUGMENTATIONS.values()]), hide_index=True, width="stretch")


# --- transfer learning ---------------------------------------------------------------------------

TRANSFER_HELP = """
A network trained on ImageNet has learned features that are useful far beyond ImageNet's 1000
classes. **Linear probe:** keep the whole network frozen, compute its pooled features once per
image, and train only a new linear layer on them — seconds on a CPU, with a handful of images.
**Fine-tuning:** also train the last block(s) of the network (with a smaller learning rate);
more capacity, more risk of overfitting with few images. **From scratch:** the baseline without
ImageNet — a small CNN from random weights trained on the same images; the lectures' point is
that with little data it does worse than either.
"""

METHODS = ("linear probe (frozen backbone)", "fine-tune the last block(s) too", "from scratch (random weights, no ImageNet)")
DEFAULT_EPOCHS = dict(zip(METHODS, (25, 12, 30)))


@st.cache_resource(show_spinner=False, max_entries=4)
def _backbone(name: str, device: str) -> transfer.Backbone:
    return transfer.Backbone(cached_model(name), name)


@st.cache_data(show_spinner=False, max_entries=4)
def _demo(name: str, train_per_class: int, test_per_class: int, seed: int):
    return transfer.demo_set(name, train_per_class, test_per_class, seed)


def _user_classes() -> tuple[list[str], list[tuple[np.ndarray, int]], list[tuple[np.ndarray, int]]]:
    count = int(st.number_input("Number of classes", 2, 6, 2, key="arch_tl_classes"))
    classes, items = [], []
    columns = st.columns(min(count, 3))
    for index in range(count):
        with columns[index % len(columns)].container(border=True):
            name = st.text_input("Class name", f"class {index + 1}", key=f"arch_tl_name_{index}").strip() or f"class {index + 1}"
            classes.append(name)
            uploads = st.file_uploader("Images", accept_multiple_files=True, key=f"arch_tl_files_{index}",
                                       type=["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"])
            snapshots: list = st.session_state.setdefault(f"arch_tl_snaps_{index}", [])
            shot = st.camera_input("Add a webcam snapshot", key=f"arch_tl_cam_{index}_{len(snapshots)}",
                                   help="Each picture you take is added to this class.")
            if shot is not None:
                snapshots.append(shot.getvalue())
                st.rerun()
            images = []
            for upload in uploads or []:
                try:
                    images.append(load_image(upload.getvalue(), name=upload.name))
                except ImageLoadError as exc:
                    st.error(plain(exc))
            for data in snapshots:
                images.append(load_image(data, name="webcam snapshot"))
            if snapshots and st.button(f"Forget {len(snapshots)} snapshot(s)", key=f"arch_tl_forget_{index}"):
                st.session_state[f"arch_tl_snaps_{index}"] = []
                st.rerun()
            st.caption(f"{len(images)} image(s)")
            items.append(images)
    train, test = [], []
    for label, images in enumerate(items):
        # With four or more images, one in four is held out to measure accuracy honestly.
        held = len(images) // 4 if len(images) >= 4 else 0
        test += [(img, label) for img in images[len(images) - held:]]
        train += [(img, label) for img in images[:len(images) - held]]
    return classes, train, test


def _features_with_progress(backbone: transfer.Backbone, images: list[np.ndarray], label: str):
    bar = st.progress(0.0, text=label)
    features = backbone.features(images, progress=lambda done, total: bar.progress(done / total, text=f"{label} {done}/{total}"))
    bar.empty()
    return features


def transfer_section() -> None:
    st.markdown(TRANSFER_HELP)
    names = transfer.backbone_names()
    if not names:
        st.warning("No ImageNet classifier is ready offline; `python -m cvdemo weights` lists what to fetch.")
        return
    setup, data_column = st.columns([1, 2])
    with setup:
        backbone_name = st.selectbox("Frozen backbone (ready offline)", names, key="arch_tl_backbone")
        backbone = _with_spinner("Preparing the backbone…", lambda: _backbone(backbone_name, str(current_device())))
        method = st.radio("Train", METHODS, key="arch_tl_method")
        blocks = 1
        if method.startswith("fine"):
            blocks = int(st.number_input("Blocks to fine-tune", 1, 3, 1, key="arch_tl_blocks"))
            st.caption("Trains: " + ", ".join(f"`{b}`" for b in backbone.block_names(blocks)))
        epochs = int(st.slider("Epochs", 5, 100, DEFAULT_EPOCHS[method], key="arch_tl_epochs"))
        copies = int(st.slider("Augmented copies per training image", 0, 4, 0, key="arch_tl_copies",
                               help="Random crops, flips, colour and weather effects (see the Augmentation view)."))
        seed = int(st.number_input("Seed", 0, 10_000, 0, key="arch_tl_seed"))
    with data_column:
        source = st.radio("Images", ["demo set (photos shipped with scikit-image)", "my own (uploads / webcam)"],
                          horizontal=True, key="arch_tl_source")
        if source.startswith("demo"):
            demo = st.selectbox("Demo set", list(transfer.DEMO_SETS), key="arch_tl_demo")
            st.caption(transfer.DEMO_SETS[demo].description)
            per_class = int(st.slider("Training images per class", 2, 16, 6, key="arch_tl_per_class"))
            classes, train, test = _demo(demo, per_class, 6, seed)
            preview = st.columns(len(classes))
            for label, column in enumerate(preview):
                example = next(img for img, lab in train if lab == label)
                column.image(example, caption=classes[label], width="stretch")
        else:
            classes, train, test = _user_classes()
    counts = [sum(1 for _, lab in train if lab == label) for label in range(len(classes))]
    ready_to_train = len(classes) >= 2 and min(counts) >= 1
    if not ready_to_train:
        st.info("Give at least one image for every class.")
    if len(set(classes)) < len(classes):
        st.warning("Two classes have the same name.")
    train_column, compare_column = st.columns([1, 3])
    if train_column.button("Train", type="primary", disabled=not ready_to_train, key="arch_tl_train"):
        _train(backbone, backbone_name, method, blocks, epochs, copies, seed, classes, train, test)
    if compare_column.button("Train all three on these images", disabled=not ready_to_train or not test, key="arch_tl_compare",
                             help="Linear probe, fine-tuning and from scratch, each with its default epochs: held-out "
                                  "accuracy side by side."):
        for each in METHODS:
            _train(backbone, backbone_name, each, blocks, DEFAULT_EPOCHS[each], copies, seed, classes, train, test)
        st.session_state["arch_tl_compared"] = st.session_state["arch_tl_history"][-len(METHODS):]
    _comparison()
    _results(backbone)


def _comparison() -> None:
    runs = st.session_state.get("arch_tl_compared")
    if not runs:
        return
    st.plotly_chart(figures.method_comparison(runs), key="arch_tl_compare_chart")
    st.caption("Same images, same held-out set, same seed. The lecture's figure (Rijksmuseum materials) finds fine-tuning "
               "best, off-the-shelf features next and training from scratch worst. The demo sets' held-out crops come from "
               "the same photos as the training crops, so even a small CNN from scratch can score well here; with your own "
               "photos of different objects (or fewer training images) the gap to the pre-trained features grows.")


def _train(backbone, backbone_name, method, blocks, epochs, copies, seed, classes, train, test) -> None:
    images = [img for img, _ in train]
    labels = [lab for _, lab in train]
    if copies:
        bar = st.progress(0.0, text="Augmenting…")
        extra = augment.augment_images(images, copies, seed)
        bar.empty()
        labels = labels + [lab for lab in labels for _ in range(copies)]
        images = images + extra
    chart = st.empty()
    logs: list = []

    def on_epoch(log) -> None:
        logs.append(log)
        chart.plotly_chart(figures.loss_curve(logs, f"epoch {log.epoch}/{epochs}"), key=f"arch_tl_live_{METHODS.index(method)}_{log.epoch}")

    test_images = [img for img, _ in test] or None
    test_labels = [lab for _, lab in test] or None
    try:
        if method.startswith("linear"):
            started = time.perf_counter()
            features = _features_with_progress(backbone, images, "Backbone features (frozen, computed once)")
            val = _features_with_progress(backbone, test_images, "Held-out features") if test_images else None
            feature_seconds = time.perf_counter() - started
            head = transfer.train_head(features, labels, classes, val_features=val, val_labels=test_labels, epochs=epochs,
                                       lr=1e-3, weight_decay=1e-2, batch_size=8, seed=seed, on_epoch=on_epoch)
        elif method.startswith("from scratch"):
            bar = st.progress(0.0, text="Downsampled inputs")
            head = transfer.train_from_scratch(backbone, images, labels, classes, val_images=test_images, val_labels=test_labels,
                                               epochs=epochs, seed=seed, on_epoch=on_epoch,
                                               progress=lambda done, total: bar.progress(done / total, text=f"Inputs {done}/{total}"))
            bar.empty()
            feature_seconds = head.feature_seconds
        else:
            bar = st.progress(0.0, text="Activations before the trained block(s)")
            head = transfer.fine_tune(backbone, images, labels, classes, val_images=test_images, val_labels=test_labels,
                                      blocks=blocks, epochs=epochs, batch_size=8, seed=seed, on_epoch=on_epoch,
                                      progress=lambda done, total: bar.progress(done / total, text=f"Activations {done}/{total}"))
            bar.empty()
            feature_seconds = head.feature_seconds
    except (RuntimeError, ValueError, TypeError) as exc:
        st.error(f"Training failed: {exc}")
        return
    chart.empty()
    result = {"head": head, "backbone": backbone_name, "method": method if not method.startswith("fine") else f"fine-tune {blocks} block(s)",
              "train_images": len(images), "held_out": len(test), "feature_seconds": feature_seconds,
              "train_seconds": head.train_seconds, "epochs": epochs}
    st.session_state["arch_tl_result"] = result
    history = st.session_state.setdefault("arch_tl_history", [])
    history.append({k: v for k, v in result.items() if k != "head"} | {
        "classes": ", ".join(classes),
        "held-out accuracy %": round(100 * head.final.val_accuracy, 1) if head.final and head.final.val_accuracy is not None else None})


def _results(backbone: transfer.Backbone) -> None:
    result = st.session_state.get("arch_tl_result")
    if not result:
        return
    head: transfer.TrainedHead = result["head"]
    if result["backbone"] != backbone.name:
        st.info(f"The trained head belongs to {result['backbone']}; train again for {backbone.name}.")
        return
    final = head.final
    if final is None:
        return  # stopped before its first epoch: nothing to report
    a, b, c, d = st.columns(4)
    a.metric("Held-out accuracy", f"{100 * final.val_accuracy:.0f}%" if final.val_accuracy is not None else "no held-out images",
             help=f"chance: {100 / len(head.classes):.0f}%")
    b.metric("Training", f"{result['train_seconds']:.2f} s", help=f"{result['epochs']} epochs on {result['train_images']} images")
    c.metric("Backbone features", f"{result['feature_seconds']:.1f} s")
    d.metric("Final training loss", f"{final.train_loss:.4f}")
    st.plotly_chart(figures.loss_curve(head.logs, f"{result['method']} on {backbone.name}"), key="arch_tl_curve")
    history = st.session_state.get("arch_tl_history", [])
    if len(history) > 1:
        st.dataframe(pd.DataFrame(history), hide_index=True, width="stretch")

    st.subheader("Try it on new images")
    picked = image_input("arch_tl_predict", "New image", sources=("Upload", "Webcam snapshot", "Sample photo"),
                         default_sample="cat (Chelsea)")
    if picked is not None:
        image, image_name = picked
        probabilities = head.predict(backbone, [image])[0]
        left, right = st.columns([1, 1])
        left.image(image, caption=plain(image_name), width="stretch")
        right.plotly_chart(figures.probability_bars(head.classes, probabilities), key="arch_tl_bars")
    with st.expander("Live webcam"):
        from cvdemo.ui.live import live_video

        def process_frame(rgb: np.ndarray) -> np.ndarray:
            probabilities = head.predict(backbone, [rgb])[0]
            best = int(np.argmax(probabilities))
            return _label_frame(rgb, f"{head.classes[best]} {100 * probabilities[best]:.0f}%")

        live_video("arch_tl_live", process_frame)


def _label_frame(rgb: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    pil = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(pil)
    size = max(16, rgb.shape[0] // 14)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    draw.rectangle([0, 0, rgb.shape[1], size + 12], fill=(0, 0, 0))
    draw.text((8, 4), text, fill=(255, 255, 0), font=font)
    return np.asarray(pil)


# --- the page's views, in the order shown: title → view (cvdemo.ui.views.show_views) ---------------

def clever_hans_view() -> None:
    clever_hans_section(_backbone)


VIEWS = {
    "Table": table_section,
    "Layer explorer": layers_section,
    "Convolutionalization": convolutionalization_section,
    "Augmentation": augmentation_section,
    "Transfer learning": transfer_section,
    "Arithmetic": arithmetic_section,
    "Why residuals": residuals_section,
    "Clever Hans": clever_hans_view,
    "Generalization": generalization_section,
    "Efficiency": efficiency_section,
}
