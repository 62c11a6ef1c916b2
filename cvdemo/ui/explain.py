"""Streamlit sections of the explainability page (widgets and layout; the work is in cvdemo.explain)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import streamlit as st

from cvdemo import registry
from cvdemo.colormaps import is_flat
from cvdemo.explain import LIVE_METHODS, METHODS, AttributionError, attribute
from cvdemo.explain.catalog import LAYER_METHODS, SHORT_TITLES, SUMMARIES
from cvdemo.explain.core import Attribution
from cvdemo.explain.layers import LayerChoice, next_layer, ordered_choices
from cvdemo.explain.live import explain_frame
from cvdemo.explain.lrp import refused
from cvdemo.explain.occlusion import window_starts
from cvdemo.explain.plots import curves_figure, heatmap_figure, npy_bytes, overlay_rgb, randomisation_figure
from cvdemo.explain.targets import Subject, classifier_subject, detection_subject, face_crop, verification_subject
from cvdemo.images import encode_png
from cvdemo.registry import Task
from cvdemo.ui.common import (bounded_slider, cached_model, current_device, image_digest, image_input, in_session_memo,
                              model_picker, session_memo, show_error)

TITLES = SHORT_TITLES
# Opening the page computes one fast map; every other method runs when it is picked.
FIRST_METHODS = ["gradcam"]
MAP_HEIGHT = 360  # every explanation panel the same size
CACHE_SIZE = 40  # maps kept per session
SANITY = "explain_sanity"
SANITY_RUNS = 4  # randomisation runs hold a few MB of maps each


# ----------------------------------------------------------------------------------------------
# Shared pieces


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if hasattr(value, "shape"):  # tensors (input bounds): identify by content
        return ("tensor", tuple(np.asarray(value.detach().cpu() if hasattr(value, "detach") else value).ravel().round(6)))
    return value


def compute(subject: Subject, subject_key: tuple, method: str, target: int | None, options: dict) -> Attribution:
    """Cached per session; slow methods show a progress bar (changing any control stops them)."""

    def run() -> Attribution:
        bar = st.progress(0.0, text=f"{TITLES[method]}…")

        def progress(fraction: float, message: str) -> bool:
            # Any st.* call raises Streamlit's rerun exception when a control changed meanwhile,
            # which stops the computation here.
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)
            return True

        try:
            return attribute(method, subject.model, subject.inputs, target, progress=progress, **options)
        finally:
            bar.empty()

    return session_memo("explain_maps", (subject_key, method, target, _freeze(options)), run, size=CACHE_SIZE)


def default_occlusion(subject: Subject) -> tuple[int, int, str]:
    """Patch, stride and fill: the Face verification page's for face pairs (so both views agree),
    else a 14th of the input, half-overlapping, the dataset's mean colour."""
    if subject.kind == "verification":
        from cvdemo.faces import why

        return why.DEFAULT_PATCH, why.DEFAULT_STRIDE, "blur"
    patch = max(4, int(subject.inputs.shape[-1]) // 14)
    return patch, max(1, patch // 2), "zero"


def method_settings(key: str, subject: Subject, methods: list[str]) -> dict[str, dict]:
    """Per-method controls (only for the methods picked) → ``{method: options}``."""
    options: dict[str, dict] = {m: {} for m in methods}
    size = int(subject.inputs.shape[-1])
    with st.expander("Method settings", expanded="occlusion" in methods):
        if "occlusion" in methods:
            c1, c2, c3 = st.columns(3)
            first_patch, first_stride, first_fill = default_occlusion(subject)
            patch = c1.slider("Occlusion patch (px)", 2, max(4, size // 3), first_patch, key=f"{key}_patch",
                              help="Side of the square hidden at each step, in the network's input pixels.")
            stride = c2.slider("Stride (px)", 1, patch, min(patch, first_stride), key=f"{key}_stride",
                               help="Step between patch positions; a smaller stride means more forward passes.")
            fills = ["zero", "blur", "mean"]
            baseline = c3.selectbox("Patch filled with", fills, fills.index(first_fill), key=f"{key}_baseline",
                                    help="zero: the dataset's mean colour (0 after normalisation); blur: a blurred "
                                         "copy (hides detail, keeps colour); mean: this image's average colour.")
            positions = len(window_starts(size, patch, stride)) ** 2
            options["occlusion"] = {"patch": patch, "stride": stride, "baseline": baseline}
            if subject.kind == "verification":
                # As on the Face verification page: the incremental path would trace this fresh
                # wrapper per session and saves little on a 150-px chip (its own estimate: ~1.1×).
                options["occlusion"]["fast"] = False
                how = "batched, as on the Face verification page"
            else:
                how = "computed incrementally: only the part of each feature map the patch reaches is recomputed"
            st.caption(f"Occlusion: {positions} patch positions = {positions} forward passes ({how}).")
        noisy = [m for m in methods if m in ("smoothgrad", "vargrad")]
        if noisy:
            c1, c2 = st.columns(2)
            noise = {"samples": c1.slider("Noisy copies (SmoothGrad, VarGrad)", 4, 64, 24, 4, key=f"{key}_sg_samples"),
                     "noise": c2.slider("Noise σ (share of the value range)", 0.0, 0.5, 0.15, 0.05, key=f"{key}_sg_noise")}
            options.update({m: dict(noise) for m in noisy})
        if "integrated_gradients" in methods:
            c1, c2 = st.columns(2)
            steps = c1.select_slider("Integrated Gradients steps", ["auto", 8, 16, 32, 64, 128, 256, 512], "auto",
                                     key=f"{key}_ig_steps",
                                     help="auto: start at 32 and double (up to 512) until Σ attribution is within 5 % of "
                                          "the score gap f(x) − f(x′). A number: exactly that many Gauss–Legendre nodes.")
            options["integrated_gradients"] = {
                "steps": None if steps == "auto" else int(cast(int, steps)),
                "baseline": c2.selectbox("Baseline x′", ["zero", "blur", "mean"], key=f"{key}_ig_baseline",
                                         help="zero: the dataset's mean colour (0 after normalisation); blur: a blurred "
                                              "copy; mean: this image's average colour."),
            }
        cells = [m for m in methods if m in ("feature_ablation", "shapley_value_sampling", "kernel_shap", "lime")]
        if cells:
            c1, c2 = st.columns(2)
            cell = c1.slider("Cell side (px) for ablation, Shapley, Kernel SHAP, LIME", max(2, size // 28), size // 2,
                             max(4, size // 7), key=f"{key}_cell",
                             help="These methods switch whole cells between your image and the baseline (the "
                                  "dataset's mean colour); smaller cells: a finer map, many more forward passes.")
            samples = c2.slider("Random samples (Kernel SHAP, LIME)", 25, 400, 200, 25, key=f"{key}_cell_samples")
            for method in cells:
                options[method] = {"cell": cell}
                if method in ("kernel_shap", "lime"):
                    options[method]["samples"] = samples
        layered = [m for m in methods if m in LAYER_METHODS]
        layers = layer_list(subject) if layered else []
        if layers:
            c1, c2 = st.columns([3, 1])
            names = [choice.name for choice in layers]
            labels = {choice.name: choice.label for choice in layers}
            layer = c1.selectbox("Layer (Grad-CAM and the other layer methods)", names, key=f"{key}_cam_layer",
                                 format_func=lambda name: labels[name],
                                 help="The first choice is the usual one: for a classifier, the last layer that still "
                                      "keeps a spatial map; for a detection, the head level the box came from. Earlier "
                                      "layers: finer but less class-specific maps.")
            relu = c2.toggle("ReLU (paper)", True, key=f"{key}_cam_relu", disabled="gradcam" not in methods,
                             help="Grad-CAM only. Off: keep negative evidence (regions that speak against the class).")
            for method in layered:
                options[method] = {"layer": layer}
            if "gradcam" in methods:
                options["gradcam"]["relu"] = relu
        lrp = [m for m in methods if m.startswith("lrp")]
        if lrp:
            c1, c2, c3 = st.columns(3)
            eps = c1.select_slider("LRP ε (× each layer's RMS)", [0.05, 0.1, 0.25, 0.5, 1.0], 0.25, key=f"{key}_lrp_eps",
                                   help="Small ε on MobileNet-like networks lets relevance explode into ± pairs "
                                        "(the conservation check then fails).")
            gamma = c2.select_slider("LRP γ", [0.0, 0.1, 0.25, 0.5, 1.0], 0.25, key=f"{key}_lrp_gamma")
            standard = c3.toggle("Published rules (leaky)", False, key=f"{key}_lrp_standard",
                                 help="zennit's rules as published: relevance of bias-driven neurons and the ε share "
                                      "are lost, so BatchNorm networks fail the conservation check.")
            for method in lrp:
                options[method] = {"epsilon": eps, "gamma": gamma, "leak": "standard" if standard else "spread",
                                   "input_bounds": subject.input_bounds}
    return options


def layer_list(subject: Subject) -> list[LayerChoice]:
    """The layer methods' choices, the subject's default first (found once per network and input size)."""
    if not hasattr(subject.model, "named_modules"):
        return []
    try:
        return ordered_choices(subject.model, subject.inputs, subject.layer_grid, subject.head_grids)
    except AttributionError:
        return []


def flat_map_advice(subject: Subject, attribution: Attribution) -> str:
    """What to say instead of drawing a map that is all zero or constant."""
    low, high = attribution.value_range()
    said = (f"The {TITLES[attribution.method]} map is flat (every value between {low:.3g} and {high:.3g}): it shows no "
            "region, so it is not drawn as a heat map.")
    layer = attribution.insight.layer
    if layer:
        following = next_layer(layer_list(subject), layer)
        if following is not None:
            return said + f" This layer carries nothing for this target; try the next layer: **{following.label}**."
    return said + " Try another method or target."


def result_card(subject: Subject, attribution: Attribution, opacity: float, key: str) -> None:
    """One method's map with its facts, its legend and downloads."""
    method = attribution.method
    facts = [f"{attribution.seconds:.2f} s"]
    if method == "integrated_gradients":
        tried = attribution.insight.tried
        facts.append(f"{attribution.insight.steps} steps" + (f" (raised from {tried[0].steps})" if len(tried) > 1 else ""))
    if attribution.insight.path:
        facts.append("incremental (exact)" if attribution.insight.path == "incremental" else "batched")
    if attribution.insight.layer:
        grid = "×".join(map(str, attribution.insight.resolution or ()))
        chosen = next((c for c in layer_list(subject) if c.name == attribution.insight.layer), None)
        facts.append(f"layer: {chosen.label if chosen else grid}")
    if attribution.insight.note:
        facts.append(attribution.insight.note)
    st.markdown(f"**{TITLES[method]}**")
    if attribution.conservation is not None:
        check = attribution.conservation
        (st.caption if check.ok else st.warning)(f"Completeness: {check.describe()}")
    why_not = refused(attribution)
    if why_not:
        st.error(why_not)
        return
    if is_flat(attribution.map):
        st.info(flat_map_advice(subject, attribution))
        return
    st.plotly_chart(heatmap_figure(subject.image, attribution, opacity=opacity, value_name="attribution",
                                   height=MAP_HEIGHT),
                    key=f"{key}_chart", config={"displaylogo": False}, width="stretch")
    st.caption(subject.legend(attribution.signed, attribution.target))
    st.caption(" · ".join(facts))
    c1, c2 = st.columns(2)
    c1.download_button("PNG", encode_png(overlay_rgb(subject.image, attribution, opacity)), f"{method}.png",
                       "image/png", key=f"{key}_png")
    c2.download_button(".npy", npy_bytes(attribution.map), f"{method}.npy", "application/octet-stream", key=f"{key}_npy")


def method_picker(key: str, default: list[str], allowed: list[str] | None = None) -> list[str]:
    options = [m for m in METHODS if allowed is None or m in allowed]
    return st.multiselect("Methods to compare side by side (each runs when you add it)", options,
                          default=[m for m in default if m in options],
                          format_func=lambda m: TITLES[m], key=f"{key}_methods",
                          help="\n\n".join(f"**{TITLES[m]}**: {SUMMARIES[m]}" for m in options))


def maps_grid(subject: Subject, subject_key: tuple, methods: list[str], target: int | None, settings: dict,
              opacity: float, key: str) -> dict[str, Attribution]:
    """Compute (or recall) each method's map and lay the cards out, three per row."""
    results: dict[str, Attribution] = {}
    for start in range(0, len(methods), 3):
        columns = st.columns(3)
        for column, method in zip(columns, methods[start:start + 3]):
            with column:
                try:
                    results[method] = compute(subject, subject_key, method, target, settings.get(method, {}))
                except AttributionError as exc:
                    st.markdown(f"**{TITLES[method]}**")
                    st.warning(str(exc))
                    continue
                result_card(subject, results[method], opacity, f"{key}_{method}")
    return results


def opacity_slider(key: str) -> float:
    return st.slider("Map opacity", 0.0, 1.0, 0.6, 0.05, key=f"{key}_opacity",
                     help="Signed maps: red and blue on a symmetric scale around a white 0. Magnitude maps: bright = "
                          "high, 0 see-through. Each map's caption says what red means for this target. Hover a pixel "
                          "to read its value.")


# ----------------------------------------------------------------------------------------------
# ImageNet classifiers (with the sanity checks)


def target_picker(subject: Subject, key: str) -> int:
    categories, probabilities = subject.categories, subject.probabilities
    if categories is None or probabilities is None:
        raise ValueError("only a classifier's subject has classes to pick from")
    order = [index for _, _, index in subject.top(len(categories))]
    picked = st.selectbox("Explain the score of class", order, index=0, key=f"{key}_target",
                          format_func=lambda i: f"{categories[i]} — {probabilities[i]:.1%}",
                          help="Classes sorted by the model's probability; pick any of them.")
    return order[0] if picked is None else picked  # None only for an empty list, which a classifier never has


def predictions(subject: Subject) -> None:
    rows = [{"class": name, "probability": f"{p:.1%}", "index": i} for name, p, i in subject.top(5)]
    st.dataframe(rows, hide_index=True, width="stretch")


def classifier_section() -> None:
    left, right = st.columns([1, 1])
    with left:
        spec = model_picker(Task.CLASSIFICATION, "xp_model", "Classifier",
                            predicate=lambda s: s.family == "ImageNet classifier")
        picked = image_input("xp_image", "Image", default_sample="cat (Chelsea)")
    if spec is None or picked is None:
        return
    image, name = picked
    try:
        classifier = cached_model(spec.name)
        subject = classifier_subject(classifier, image, spec.title)
    except Exception as exc:  # an image the classifier's preprocessing cannot take: say so, keep the page
        show_error(exc)
        return
    with right:
        st.image(subject.image, caption="What the network sees (resized, centre-cropped)", width=224)
        predictions(subject)
        target = target_picker(subject, "xp")
    subject_key = (spec.name, str(current_device()), image_digest(image))
    methods = method_picker("xp", FIRST_METHODS)
    settings = method_settings("xp", subject, methods)
    opacity = opacity_slider("xp")
    results = maps_grid(subject, subject_key, methods, target, settings, opacity, "xp")
    sanity_section(subject, subject_key, target, methods, settings, results)


def sanity_section(subject: Subject, subject_key: tuple, target: int, methods: list[str], settings: dict,
                   results: dict[str, Attribution]) -> None:
    from cvdemo.explain.sanity import cascading_randomisation, deletion_insertion

    st.subheader("Can these maps be trusted?")
    tab_random, tab_curves = st.tabs(["Cascading randomisation (Adebayo et al.)", "Deletion / insertion (faithfulness)"])
    chosen = [m for m in methods if m != "occlusion"]
    with tab_random:
        st.caption("Re-initialise the network's blocks from the output down, one more at each step, and recompute each "
                   "map. A map that stays the same while the model is destroyed explains the image, not the model. "
                   "Occlusion is left out (too slow to repeat for every step).")
        steps = st.slider("Blocks to randomise", 1, 8, 4, key="xp_rand_steps")
        run_key = ("random", subject_key, target, tuple(chosen), steps, _freeze({m: settings.get(m, {}) for m in chosen}))
        clicked = st.button("Run cascading randomisation", key="xp_rand_run", disabled=not chosen)
        result = None
        if clicked or in_session_memo(SANITY, run_key):

            def randomise():
                bar = st.progress(0.0)
                try:
                    return cascading_randomisation(
                        subject.model, subject.inputs, target, chosen, {m: settings.get(m, {}) for m in chosen},
                        steps=steps, progress=lambda f, text: bar.progress(f, text=text) or True)
                finally:
                    bar.empty()

            try:
                result = session_memo(SANITY, run_key, randomise, size=SANITY_RUNS)
            except AttributionError as exc:
                st.warning(str(exc))
        if result is not None:
            st.plotly_chart(randomisation_figure(result.table(), TITLES), key="xp_rand_chart")
            st.dataframe([{TITLES.get(column, column): value for column, value in row.items()} for row in result.table()],
                         hide_index=True, width="stretch")
            step = st.select_slider("Show maps after randomising down to", [s.block or "(original)" for s in result.steps],
                                    key="xp_rand_show")
            chosen_step = next(s for s in result.steps if (s.block or "(original)") == step)
            columns = st.columns(max(1, len(chosen_step.maps)))
            for column, (method, values) in zip(columns, chosen_step.maps.items()):
                column.plotly_chart(heatmap_figure(subject.image, values, opacity=0.7, title=TITLES[method], height=260),
                                    key=f"xp_rand_map_{method}", width="stretch")
    with tab_curves:
        st.caption("Delete pixels in order of decreasing attribution (replacing them with a blurred copy) and watch the "
                   "class probability fall; or insert them into the blurred image. Faithful maps: low deletion AUC, "
                   "high insertion AUC.")
        curves_key = ("curves", subject_key, target, tuple(results), _freeze({m: settings.get(m, {}) for m in results}))
        clicked = st.button("Compute deletion / insertion curves", key="xp_curves_run", disabled=not results)
        curves = None
        if clicked or in_session_memo(SANITY, curves_key):

            def measure_curves():
                bar = st.progress(0.0)
                found = {}
                try:
                    for index, (method, attribution) in enumerate(results.items()):
                        if refused(attribution):
                            continue
                        found[TITLES[method]] = deletion_insertion(
                            subject.model, subject.inputs, target, attribution.map,
                            progress=lambda f, text, i=index, m=method: bar.progress((i + f) / len(results),
                                                                                     text=f"{TITLES[m]}: {text}") or True)
                finally:
                    bar.empty()
                return found

            try:
                curves = session_memo(SANITY, curves_key, measure_curves, size=SANITY_RUNS)
            except AttributionError as exc:
                st.warning(str(exc))
        if curves:
            c1, c2 = st.columns(2)
            c1.plotly_chart(curves_figure(curves, "deletion"), key="xp_deletion")
            c2.plotly_chart(curves_figure(curves, "insertion"), key="xp_insertion")
            st.dataframe([{"method": m, "deletion AUC ↓": round(c.deletion.auc, 4), "insertion AUC ↑": round(c.insertion.auc, 4),
                           "insertion − deletion ↑": round(c.score, 4)} for m, c in curves.items()],
                         hide_index=True, width="stretch")


# ----------------------------------------------------------------------------------------------
# Face expression


def expression_section() -> None:
    if not registry.is_ready("emotion"):
        spec = model_picker(Task.CLASSIFICATION, "xp_emotion_model", "Expression model", only=["emotion"])
        if spec is None:
            return
    picked = image_input("xp_face", "Photo with a face", default_sample="astronaut (Eileen Collins)")
    if picked is None:
        return
    image, name = picked
    modes = (["Detected face (MTCNN)"] if registry.is_ready("mtcnn") else []) + ["Square I choose", "Whole image"]
    crop_mode = st.radio("Face crop", modes, key="xp_face_crop", horizontal=True)
    height, width = image.shape[:2]
    box = None
    note = ""
    if crop_mode == "Square I choose":
        c1, c2, c3 = st.columns(3)
        short = min(height, width)
        side = bounded_slider(c3, "Side (px)", min(16, short), short, short // 2, key="xp_face_side")
        x = bounded_slider(c1, "Left (px)", 0, width - side, (width - side) // 2, key="xp_face_x")
        y = bounded_slider(c2, "Top (px)", 0, height - side, (height - side) // 2, key="xp_face_y")
        crop, box = image[y:y + side, x:x + side], (x, y, x + side, y + side)
    elif crop_mode == "Whole image":
        crop = image
    else:
        crop, box, note = session_memo("explain_inputs", ("face_crop", image_digest(image)),
                                       lambda: face_crop(image, cached_model("mtcnn")), size=16)
    if note:
        st.caption(note)
    classifier = cached_model("emotion")
    subject = classifier_subject(classifier, crop, "facial expression")
    left, right = st.columns([1, 2])
    with left:
        st.image(crop, caption="Face crop", width=200)
        predictions(subject)
        target = target_picker(subject, "xp_face")
    subject_key = ("emotion", str(current_device()), image_digest(image), box, crop_mode)
    with right:
        methods = method_picker("xp_face", FIRST_METHODS)
        settings = method_settings("xp_face", subject, methods)
        opacity = opacity_slider("xp_face")
    maps_grid(subject, subject_key, methods, target, settings, opacity, "xp_face")


# ----------------------------------------------------------------------------------------------
# Detection


DETECTORS = ("nanodet", "centernet")


def detection_section() -> None:
    spec = model_picker(Task.DETECTION, "xp_det_model", "Detector", only=list(DETECTORS))
    picked = image_input("xp_det_image", "Image", default_sample="cat (Chelsea)")
    if spec is None or picked is None:
        return
    image, name = picked
    detector = cached_model(spec.name)
    threshold = st.slider("Score threshold", 0.05, 0.9, 0.3, 0.05, key="xp_det_threshold")
    detections = session_memo("explain_inputs", ("detect", spec.name, str(current_device()), image_digest(image), threshold),
                              lambda: detector.detect(image, score_threshold=threshold).sorted(), size=16)
    if not len(detections):
        st.info("No detection above the threshold: lower it, or try another photo.")
        return
    labels = [f"{detections.categories[l]} {s:.2f} at ({b[0]:.0f}, {b[1]:.0f})–({b[2]:.0f}, {b[3]:.0f})"
              for l, s, b in zip(detections.labels, detections.scores, detections.boxes)]
    chosen = st.selectbox("Box to explain", range(len(labels)), format_func=lambda i: labels[i], key="xp_det_box")
    subject_key = (spec.name, str(current_device()), image_digest(image), chosen, threshold)
    try:
        # Kept per session: the subject wraps the detector in a new module, and per-module work
        # (Grad-CAM's layer probe, occlusion's plan) would otherwise start over on every rerun.
        subject = session_memo("explain_inputs", ("detection subject",) + subject_key, lambda: detection_subject(
            detector, image, detections.boxes[chosen], int(detections.labels[chosen]), float(detections.scores[chosen])),
            size=16)
    except AttributionError as exc:
        st.warning(str(exc))
        return
    for note in subject.notes:
        st.caption(note)
    methods = method_picker("xp_det", [subject.first_method])
    settings = method_settings("xp_det", subject, methods)
    opacity = opacity_slider("xp_det")
    maps_grid(subject, subject_key, methods, None, settings, opacity, "xp_det")


# ----------------------------------------------------------------------------------------------
# Face verification


def verification_section() -> None:
    if not (registry.is_ready("dlib_resnet") and registry.is_ready("mtcnn")):
        st.info("Face verification needs the `mtcnn` and `dlib_resnet` models; see the home page for how to get them.")
        return
    from cvdemo.ui import faces as face_view

    c1, c2 = st.columns(2)
    with c1:
        a = face_view.face_image_input("xp_fa", "Face to explain")
    with c2:
        b = face_view.face_image_input("xp_fb", "Reference face", default_sample="cameraman")
    if a is None or b is None:
        return
    pipe = face_view.pipeline()
    faces_a = face_view.find_faces(a[0], a[1], pipe)
    faces_b = face_view.find_faces(b[0], b[1], pipe)
    if not faces_a or not faces_b:
        st.warning("A face is needed in both photos.")
        return
    from cvdemo.faces.verify import largest

    face_a, face_b = largest(faces_a), largest(faces_b)
    subject_key = ("verify", str(current_device()), image_digest(face_a.chip), image_digest(face_b.chip))
    subject = session_memo("explain_inputs", ("verification subject",) + subject_key,
                           lambda: verification_subject(cached_model("dlib_resnet"), face_a.chip, face_b.chip), size=16)
    c1, c2 = st.columns(2)
    c1.image(face_a.chip, caption="Explained chip", width=150)
    c2.image(face_b.chip, caption="Reference chip", width=150)
    for note in subject.notes:
        st.caption(note)
    # Occlusion first, with the Face verification page's patch and stride: the same view, the same colours.
    methods = method_picker("xp_fv", ["occlusion"], allowed=[m for m in METHODS if not m.startswith("lrp")])
    settings = method_settings("xp_fv", subject, methods)
    opacity = opacity_slider("xp_fv")
    maps_grid(subject, subject_key, methods, None, settings, opacity, "xp_fv")


# ----------------------------------------------------------------------------------------------
# Live


def live_section() -> None:
    from cvdemo.ui.live import live_video

    spec = model_picker(Task.CLASSIFICATION, "xp_live_model", "Classifier",
                        predicate=lambda s: s.family == "ImageNet classifier")
    if spec is None:
        return
    method = st.radio("Method (fast ones only)", list(LIVE_METHODS), format_func=lambda m: TITLES[m],
                      key="xp_live_method", horizontal=True)
    opacity = st.slider("Map opacity", 0.0, 1.0, 0.55, 0.05, key="xp_live_opacity")
    classifier = cached_model(spec.name)

    def process(rgb: np.ndarray) -> np.ndarray:
        return explain_frame(classifier, rgb, method, opacity)

    live_video("xp_live", process, help_text="Each frame: the top-1 class and its map over the network's view.")


# --- the page's views, in the order shown: title → view (cvdemo.ui.views.show_views) ---------------

VIEWS = {
    "ImageNet classifier": classifier_section,
    "Face expression": expression_section,
    "Detection box": detection_section,
    "Face verification": verification_section,
    "Live webcam": live_section,
}
