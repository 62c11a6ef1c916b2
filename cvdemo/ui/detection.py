"""The detection page's sections: widgets and layout only; the work is in :mod:`cvdemo.detection`."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cvdemo import registry
from cvdemo.colormaps import legend, plotly_scale
from cvdemo.detection import figures
from cvdemo.detection.boxes import explain_nms, intersection_box, intersection_matrix, box_area, iou_matrix
from cvdemo.detection.drawing import class_color, draw_boxes, draw_detections, draw_match, heatmap_overlay, shade_box
from cvdemo.detection.export import to_coco_results, to_json
from cvdemo.detection.groundtruth import (GroundTruthError, align_labels, match_images, parse_annotation_files,
                                          size_warnings)
from cvdemo.detection.metrics import evaluate, match_image
from cvdemo.detection.pipeline import (DETECTION_FLOOR, TimedDetections, class_names, class_summary, detect_and_draw,
                                      visible)
from cvdemo.detection.proposals import MAX_SIDE, recall_at, selective_search
from cvdemo.device import describe_device
from cvdemo.fastpath import engine_label
from cvdemo.images import ImageLoadError, distinct_names, size_note
from cvdemo.registry import ModelSpec, Task
from cvdemo.results import DetectionInsight, Detections
from cvdemo.ui.two_stage_view import two_stage_tab
from cvdemo.ui.yolo_v1_view import yolo_v1_tab
from cvdemo.ui.detection_input import LATENCY_LABEL, Settings, detections_for, detections_together
from cvdemo.ui.common import (cached_model, current_device, decode_upload, download_png, download_stem, image_digest,
                              in_session_memo, model_picker, plain, session_memo)

LIVE_HELP = ("Live video uses WebRTC. On this computer (localhost) it just works. On a remote server the browser "
             "only offers the camera over **HTTPS**, and when the server is behind NAT or a firewall the video needs "
             "**STUN/TURN** servers (set `CVDEMO_ICE_SERVERS`, see the README). Frames the detector cannot keep up "
             "with are dropped, not queued, so what you see is always recent.")


def _need_picture(settings: Settings) -> tuple[np.ndarray, str] | None:
    if settings.picture is None:
        st.info("Choose a picture in the sidebar (upload, webcam snapshot or a sample photo).")
    return settings.picture


def _need_model(settings: Settings) -> ModelSpec | None:
    if settings.spec is None:
        st.info("Pick a detector whose weights are ready in the sidebar.")
    return settings.spec


def _picture_detections(settings: Settings) -> tuple[np.ndarray, ModelSpec, TimedDetections] | None:
    """The sidebar's picture, detector and its detections, or None after telling the user what is missing."""
    picked = _need_picture(settings)
    spec = _need_model(settings)
    if picked is None or spec is None:
        return None
    image, _ = picked
    return image, spec, detections_for(spec, image)


def _records_table(detections: Detections) -> pd.DataFrame:
    return pd.DataFrame([{"class": r["label"], "score": r["score"], "x1": r["box"][0], "y1": r["box"][1],
                          "x2": r["box"][2], "y2": r["box"][3]} for r in detections.to_records()],
                        columns=["class", "score", "x1", "y1", "x2", "y2"])


# ---------------------------------------------------------------------------------------------
# 1. photos


def photos_tab(settings: Settings) -> None:
    spec = _need_model(settings)
    st.caption("Upload one or more photos: every one goes through the detector in the sidebar. Boxes, class labels and "
               "scores are drawn; the score threshold and class filter in the sidebar apply at once.")
    files = st.file_uploader("Photos", accept_multiple_files=True, key="det_uploads",
                             help="PNG, JPEG, GIF, BMP, TIFF or WebP. Without uploads the sidebar picture is used.")
    images: list[tuple[str, np.ndarray]] = []
    for file, name in zip(files or [], distinct_names([file.name for file in files or []])):
        try:
            images.append((name, decode_upload(file.getvalue(), file.name)))
        except ImageLoadError as exc:
            st.error(f"Skipped: {plain(exc)}")
            continue
        if note := size_note(images[-1][1], name):
            st.warning(plain(note))
    if not files:
        if settings.picture is None:
            st.info("Upload photos above, or choose a picture in the sidebar.")
            return
        images = [(settings.picture[1], settings.picture[0])]
    if spec is None:
        return
    results: dict[str, Detections] = {}
    progress = st.progress(0.0, text="Detecting…") if len(images) > 1 else None
    for number, (name, image) in enumerate(images):
        if progress:
            progress.progress(number / len(images), text=f"Detecting {plain(name)} ({number + 1}/{len(images)})")
        timed = detections_for(spec, image)
        shown = visible(timed.detections, settings.threshold, settings.classes)
        results[name] = shown
        drawn = draw_detections(image, shown)
        left, right = st.columns([3, 2])
        left.image(drawn, caption=plain(name), width="stretch")
        with right:
            st.markdown(f"**{plain(name)}** · {image.shape[1]}×{image.shape[0]}")
            a, b = st.columns(2)
            a.metric("Latency (warm)", f"{timed.latency_ms:.0f} ms", help="detect(): pre-processing, network and post-processing, "
                     f"{LATENCY_LABEL}")
            b.metric("Boxes shown", len(shown))
            st.caption(f"{spec.title} · {spec.family} · {describe_device(current_device())}")
            if len(shown):
                st.dataframe(_records_table(shown), hide_index=True, height=min(35 * (len(shown) + 1) + 3, 300))
            else:  # an empty table's header alone sat under the download button
                st.caption(f"No box scores ≥ {settings.threshold:.2f}" + (" in the chosen classes" if settings.classes else "")
                           + ": lower the score threshold in the sidebar to see weaker ones.")
            download_png(drawn, f"{download_stem(name)}_detections.png", "Download annotated PNG", key=f"det_png_{number}")
    if progress:
        progress.empty()
    records = to_coco_results(results)
    ids = ", ".join(f"{i} = {plain(name)}" for i, name in enumerate(results, start=1))
    st.download_button("Download detections (COCO results JSON)", to_json(records), file_name="detections_coco_results.json",
                       mime="application/json", key="det_json",
                       help=f"A list of {{image_id, category_id, bbox: [x, y, w, h], score}} as COCO's loadRes reads it. "
                            f"image_id {ids}. Category ids are COCO's.")


# ---------------------------------------------------------------------------------------------
# 2. side by side


def side_by_side_tab(settings: Settings) -> None:
    picked = _need_picture(settings)
    spec_a = _need_model(settings)
    if picked is None or spec_a is None:
        return
    image, name = picked
    st.caption("The same picture through two detectors. One-stage detectors (SSD, YOLO, RetinaNet, FCOS, NanoDet) "
               "predict boxes densely in one pass; two-stage ones (Faster R-CNN) first propose regions, then classify "
               "each. The lectures' rule of thumb: one-stage is fast, two-stage is accurate.")
    others = [s for s in registry.ready_models(Task.DETECTION) if s.name != spec_a.name]
    other_family = [s for s in others if s.family != spec_a.family]
    default = (other_family or others or [spec_a])[0].name
    spec_b = model_picker(Task.DETECTION, key="det_model_b", label="Compare with", default=default)
    if spec_b is None:
        return
    rows = []
    columns = st.columns(2)
    pair = [spec_a] if spec_b.name == spec_a.name else [spec_a, spec_b]
    both = detections_together(pair, image)
    for column, spec, timed in zip(columns, (spec_a, spec_b), both + both[:1]):
        shown = visible(timed.detections, settings.threshold, settings.classes)
        column.image(draw_detections(image, shown), caption=f"{spec.title} ({spec.family})", width="stretch")
        a, b = column.columns(2)
        a.metric("Latency (warm)", f"{timed.latency_ms:.0f} ms", help=f"Both models timed in turns on this picture, {LATENCY_LABEL}")
        b.metric(f"Boxes ≥ {settings.threshold:.2f}", len(shown))
        rows.append(_comparison_row(spec, timed, shown))
    st.dataframe(pd.DataFrame(rows), hide_index=True)

    if st.toggle("Compare every ready detector on this picture", key="det_compare_all"):
        ready = registry.ready_models(Task.DETECTION)
        progress = st.progress(0.0)
        for number, spec in enumerate(ready):  # load (and warm) each first, so the timed turns below are all warm
            progress.progress(number / len(ready), text=f"Loading {spec.title} ({number + 1}/{len(ready)})")
            cached_model(spec.name, fast=True)
        progress.progress(1.0, text=f"Timing all {len(ready)} in turns…")
        rows = [_comparison_row(spec, timed, visible(timed.detections, settings.threshold, settings.classes))
                for spec, timed in zip(ready, detections_together(ready, image))]
        progress.empty()
        table = pd.DataFrame(rows)
        figure = go.Figure()
        for family, group in table.groupby("family"):
            figure.add_trace(go.Scatter(x=group["latency (ms)"], y=group["boxes ≥ threshold"], mode="markers+text",
                                        text=group["model"], textposition="top center", name=family or "other",
                                        marker={"size": 12}))
        figure.update_layout(xaxis_title="latency per image (ms, log scale)", yaxis_title=f"boxes ≥ {settings.threshold:.2f}",
                             xaxis_type="log", height=380, margin={"t": 30, "b": 40})
        st.plotly_chart(figure, key="det_compare_plot")
        st.dataframe(table, hide_index=True)
        st.caption(f"Latency on {describe_device(current_device())}, every model timed in turns on this picture, {LATENCY_LABEL}. "
                   "More confident boxes is not the same as more correct ones: score both on your own labels in the Metrics tab.")


def _comparison_row(spec: ModelSpec, timed: TimedDetections, shown: Detections) -> dict:
    return {"model": spec.name, "family": spec.family, "latency (ms)": round(timed.latency_ms, 1),
            "boxes ≥ threshold": len(shown), "classes": ", ".join(sorted(set(shown.label_names)))}


# ---------------------------------------------------------------------------------------------
# 3. NMS and IoU


def _box_option(index: int, candidates: Detections) -> str:
    return f"#{index} {candidates.label_names[index]} {candidates.scores[index]:.2f}"


def nms_tab(settings: Settings) -> None:
    found = _picture_detections(settings)
    if found is None:
        return
    image, spec, timed = found
    seen = timed.detections.insight or DetectionInsight()
    candidates = seen.candidates
    if candidates is None:
        st.info(f"{spec.title} does not hand out its boxes before NMS; pick another detector.")
        return
    st.caption("A detector predicts many overlapping boxes per object. **Non-maximum suppression** keeps the best-scoring "
               "box and removes every other box of the same class that overlaps it by more than the IoU threshold, "
               "then repeats with the next box left. **IoU** = area of intersection ÷ area of union.")
    candidates = visible(candidates, settings.threshold, settings.classes)
    default_iou = seen.nms_threshold if seen.nms_threshold is not None else 0.5
    left, right = st.columns(2)
    iou_threshold = left.slider("NMS IoU threshold", 0.05, 1.0, default_iou, 0.05, key=f"det_nms_iou_{spec.name}",
                                help=f"{spec.title} uses {default_iou:.2f}. 1.0 switches NMS off.")
    class_aware = right.toggle("Per class (boxes of different classes never suppress each other)",
                               value=seen.class_aware_nms, key="det_nms_class_aware")
    if len(candidates) == 0:
        st.info("No candidate box reaches the score threshold; lower it in the sidebar.")
        return
    result = explain_nms(candidates.boxes, candidates.scores, iou_threshold, candidates.labels if class_aware else None)
    kept = candidates.select(result.kept)
    a, b, c = st.columns(3)
    a.metric(f"Candidates ≥ {settings.threshold:.2f}", len(candidates))
    b.metric("Kept after NMS", len(kept))
    c.metric("Suppressed", result.num_suppressed)
    drawn_limit = 400
    before, after = st.columns(2)
    shown = candidates.select(np.arange(min(len(candidates), drawn_limit)))
    thin = draw_boxes(image, shown.boxes, [class_color(n) for n in shown.label_names], thickness=1)
    before.image(thin, caption=f"Before NMS: {len(candidates)} candidate boxes" +
                 (f" (the best {drawn_limit} drawn)" if len(candidates) > drawn_limit else ""), width="stretch")
    after.image(draw_detections(image, kept), caption=f"After NMS at IoU {iou_threshold:.2f}: {len(kept)} boxes", width="stretch")

    removed = np.flatnonzero(result.suppressed_by >= 0)
    if len(removed):
        with st.expander(f"Which box removed which ({len(removed)} suppressed)"):
            order = removed[np.argsort(-candidates.scores[removed])][:200]
            st.dataframe(pd.DataFrame([{
                "suppressed": _box_option(i, candidates), "by": _box_option(int(result.suppressed_by[i]), candidates),
                "IoU": round(float(result.overlap[i]), 3)} for i in order]), hide_index=True)

    st.subheader("IoU of two boxes")
    options = list(range(len(candidates)))
    first = int(result.kept[0])
    others = [i for i in options if i != first]
    partner = others[int(np.argmax(iou_matrix(candidates.boxes[first], candidates.boxes[others])[0]))] if others else first
    digest = image_digest(image)[:8]
    pick_a, pick_b = st.columns(2)
    a_index = pick_a.selectbox("Box A", options, index=first, format_func=lambda i: _box_option(i, candidates), key=f"det_iou_a_{digest}")
    b_index = pick_b.selectbox("Box B", options, index=partner, format_func=lambda i: _box_option(i, candidates), key=f"det_iou_b_{digest}")
    box_a, box_b = candidates.boxes[a_index], candidates.boxes[b_index]
    overlap = intersection_box(box_a, box_b)
    inter = float(intersection_matrix(box_a, box_b)[0, 0])
    area_a, area_b = float(box_area(box_a)[0]), float(box_area(box_b)[0])
    union = area_a + area_b - inter
    picture = shade_box(image, overlap.tolist(), (255, 255, 255), alpha=0.55) if overlap is not None else image.copy()
    picture = draw_boxes(picture, np.stack([box_a, box_b]), [(255, 64, 64), (64, 160, 255)], ["A", "B"], copy=False)
    view, numbers = st.columns([3, 2])
    view.image(picture, caption="A (red), B (blue), their intersection shaded", width="stretch")
    with numbers:
        value = inter / union if union > 0 else 0.0
        st.metric("IoU", f"{value:.3f}")
        st.markdown(f"intersection **{inter:,.0f}** px²  \nunion = {area_a:,.0f} + {area_b:,.0f} − {inter:,.0f} = **{union:,.0f}** px²  \n"
                    f"IoU = {inter:,.0f} / {union:,.0f} = **{value:.3f}**")
        same_class = candidates.labels[a_index] == candidates.labels[b_index]
        if a_index != b_index:
            verdict = ("B would be suppressed by A" if value > iou_threshold and (same_class or not class_aware)
                       and candidates.scores[a_index] >= candidates.scores[b_index] else
                       "A would be suppressed by B" if value > iou_threshold and (same_class or not class_aware) else
                       "both can survive NMS (" + ("different classes" if class_aware and not same_class else "overlap below the threshold") + ")")
            st.caption(f"At IoU threshold {iou_threshold:.2f}: {verdict}, if no other box removes them first.")


# ---------------------------------------------------------------------------------------------
# 4. per-level head maps


def head_tab(settings: Settings) -> None:
    found = _picture_detections(settings)
    if found is None:
        return
    image, spec, timed = found
    levels = timed.detections.insight.levels if timed.detections.insight is not None else ()
    st.caption("A one-stage detector is a convolutional network that ends in a grid: every cell of every output level "
               "scores every class for the boxes anchored there (SSD: default boxes on six maps; YOLOv2: 5 priors per cell found by clustering, YOLOv3: 3 anchors per cell on each scale; "
               "NanoDet, FCOS: one point per cell). Coarse levels (large stride) look for big objects, fine levels for small ones.")
    if not levels:
        ready = [s.title for s in registry.ready_models(Task.DETECTION) if s.family == "one-stage"]
        st.info(f"{spec.title} is {spec.family or 'a detector'} without per-cell class maps. Pick a one-stage detector"
                + (f" such as {', '.join(ready[:3])}." if ready else "."))
        return
    categories = list(timed.detections.categories)
    names = class_names(categories)
    shown = visible(timed.detections, settings.threshold, settings.classes)
    default = shown.label_names[0] if len(shown) else (names[0] if names else categories[0])
    top = [n for n in dict.fromkeys(shown.label_names)] + [n for n in names if n not in shown.label_names]
    pick, mode, scale = st.columns([2, 2, 2])
    name = pick.selectbox("Class", top, index=top.index(default) if default in top else 0, key=f"det_head_class_{spec.name}")
    has_objectness = all(level.objectness is not None for level in levels)
    what = mode.radio("Show", ["class score", "objectness"] if has_objectness else ["class score"], horizontal=True, key="det_head_what",
                      help="Class score: how strongly each cell predicts this class. Objectness: how sure the cell is that "
                           "some object is there, whatever its class.")
    shared = scale.toggle("One colour scale for all levels", value=True, key="det_head_shared",
                          help="On: compare levels with each other. Off: each level stretched to its own maximum.")
    index = categories.index(name)
    maps = []
    for level in levels:
        if what == "objectness" and level.objectness is not None:
            values = level.objectness if level.objectness.ndim == 2 else level.objectness.max(axis=0)
        else:
            values = level.class_scores[index]
        maps.append(np.asarray(values, dtype=np.float32))
    vmax = max(float(m.max()) for m in maps) if shared else None
    columns = st.columns(min(3, len(levels)))
    for number, (level, values) in enumerate(zip(levels, maps)):
        overlay = heatmap_overlay(image, level, values, vmax=vmax or None)
        rows, cols = values.shape
        columns[number % len(columns)].image(
            overlay, width="stretch",
            caption=f"{level.name}: {rows * cols} cells, best {values.max():.2f} at row {np.unravel_index(values.argmax(), values.shape)[0]}, "
                    f"column {np.unravel_index(values.argmax(), values.shape)[1]}")
    st.caption(legend(False, f"the cell predicts {name} strongly" if what == "class score" else "the cell is sure an object is there",
                      zero="black")
               + " Grid lines are the cells of each level mapped back onto your picture; letterbox padding and resizing "
                 "are undone.")
    chosen = st.selectbox("Inspect one level's numbers", [level.name for level in levels], key=f"det_head_level_{spec.name}")
    values = maps[[level.name for level in levels].index(chosen)]
    figure = go.Figure(go.Heatmap(z=values, colorscale=plotly_scale(False), zmin=0, zmax=vmax or max(float(values.max()), 1e-6),
                                  hovertemplate="row %{y}, column %{x}<br>score %{z:.3f}<extra></extra>"))
    figure.update_layout(yaxis={"autorange": "reversed", "scaleanchor": "x"}, height=420, margin={"t": 20, "b": 20},
                         xaxis_title="column", yaxis_title="row")
    st.plotly_chart(figure, key="det_head_plot")


# ---------------------------------------------------------------------------------------------
# 5. region proposals


def proposals_tab(settings: Settings) -> None:
    picked = _need_picture(settings)
    if picked is None:
        return
    image, _ = picked
    st.caption("R-CNN (2014) did not look everywhere: **selective search** first grouped superpixels by colour, texture, size "
               "and fill into about 2000 region proposals; each was warped to 227×227, a CNN computed its features, and per-class linear **SVMs** classified those features (a linear regressor refined the box). Fast R-CNN ran "
               "the CNN once and pooled each proposal from its feature map (RoI pooling); Faster R-CNN replaced selective "
               "search by a **region proposal network** on the same features.")
    a, b, c = st.columns(3)
    mode = a.radio("Selective search", ["fast", "quality"], horizontal=True, key="det_ss_mode",
                   help="Fast: 2 colour spaces × 3 segmentations × 2 strategies. Quality: 5 × 5 × 4 — many more proposals, much slower.")
    side = b.slider("Search at longest side (px)", 150, 800, MAX_SIDE[mode], 50, key=f"det_ss_side_{mode}",
                    help="The image is shrunk first: selective search time grows quickly with size.")
    count = c.slider("Proposals to draw", 10, 2000, 200, 10, key="det_ss_count")
    key = (image_digest(image), mode, side)
    proposals = None
    if st.button("Run selective search", key="det_ss_run", type="primary") or in_session_memo("det_ss", key):

        def search():
            progress = st.progress(0.0, text="segmenting…")
            try:
                return selective_search(image, mode, side, on_progress=lambda f, text: progress.progress(f, text=text))
            finally:
                progress.empty()

        proposals = session_memo("det_ss", key, search, size=4)
    spec = settings.spec
    rpn, rpn_title = None, ""
    if spec is not None and spec.family == "two-stage":
        rpn, rpn_title = detections_for(spec, image), spec.title
    rpn_insight = rpn.detections.insight if rpn is not None else None
    rpn_proposals = rpn_insight.proposals if rpn_insight is not None else None
    confident = visible(rpn.detections, settings.threshold, settings.classes) if rpn is not None else None
    left, right = st.columns(2)
    with left:
        if proposals is None:
            st.info("Press **Run selective search** (about a second at 400 px on two cores in fast mode).")
        else:
            top = proposals.boxes[:count]
            colors = [_proposal_color(i) for i in range(len(top))]
            st.image(draw_boxes(image, top, colors, thickness=1), width="stretch",
                     caption=f"Selective search ({proposals.mode}): {len(proposals)} proposals in {proposals.seconds:.2f} s "
                             f"on {proposals.searched_size[1]}×{proposals.searched_size[0]}; the first {len(top)} drawn")
    with right:
        if rpn is None or rpn_proposals is None:
            st.info("Pick a two-stage detector (Faster R-CNN) in the sidebar to see its region proposal network's boxes here.")
        else:
            boxes = rpn_proposals
            top = boxes[:count]
            st.image(draw_boxes(image, top, [_proposal_color(i) for i in range(len(top))], thickness=1), width="stretch",
                     caption=f"{rpn_title} RPN: {len(boxes)} proposals; the whole detector took {rpn.latency_ms:.0f} ms; "
                             f"the first {len(top)} drawn")
    if confident is not None and len(confident) and (proposals is not None or rpn is not None):
        notes = []
        if proposals is not None:
            notes.append(f"selective search covers {recall_at(proposals.boxes, confident.boxes):.0%}")
        if rpn_proposals is not None:
            notes.append(f"the RPN covers {recall_at(rpn_proposals, confident.boxes):.0%}")
        st.caption(f"Of the {len(confident)} boxes {rpn_title} found (score ≥ {settings.threshold:.2f}), "
                   + " and ".join(notes) + " with some proposal at IoU ≥ 0.5.")


def _proposal_color(index: int) -> tuple[int, int, int]:
    return class_color(str(index))


# ---------------------------------------------------------------------------------------------
# 6. metrics on the user's labels

FORMAT_HELP = """
**COCO JSON** (one file for many images) — boxes are `[x, y, width, height]` in pixels:
```json
{"images": [{"id": 1, "file_name": "street.jpg"}],
 "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
 "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [120, 80, 200, 140]}]}
```
**Pascal VOC XML** (one file per image) — corners, 1-based:
```xml
<annotation><filename>street.jpg</filename>
  <object><name>car</name><difficult>0</difficult>
    <bndbox><xmin>121</xmin><ymin>81</ymin><xmax>320</xmax><ymax>220</ymax></bndbox></object>
</annotation>
```
Images are matched to annotations by file name (case and extension may differ). Class names are matched to the
detector's (VOC names such as *motorbike* or *tvmonitor* are translated to COCO's). Tools such as CVAT, Label Studio
or LabelImg export both formats.
"""


def metrics_tab(settings: Settings) -> None:
    spec = _need_model(settings)
    st.caption("How good is the detector on *your* photos? Label them, upload photos and labels, and get what papers report: "
               "precision/recall curves, AP per class, mAP@0.5 (Pascal VOC's measure) and COCO's mAP@[.5:.95].")
    st.caption("Here **precision** = correct detections / all detections and **recall** = correct detections / all "
               "labelled objects. One of the lecture decks (Neural Networks 3/3, the IoU slide) prints the two "
               "fractions the other way round; the definitions above are Everingham et al.'s, which it cites.")
    with st.expander("Label file formats"):
        st.markdown(FORMAT_HELP)
    up_images, up_labels = st.columns(2)
    image_files = up_images.file_uploader("Photos", accept_multiple_files=True, key="det_metric_images")
    label_files = up_labels.file_uploader("Labels (COCO .json or Pascal VOC .xml)", accept_multiple_files=True,
                                          key="det_metric_labels", type=["json", "xml"])
    if spec is None or not image_files or not label_files:
        st.info("Upload at least one photo and its labels.")
        return
    try:
        truth = parse_annotation_files((f.name, f.getvalue()) for f in label_files)
    except GroundTruthError as exc:
        st.error(f"Could not read the labels: {plain(exc)}")
        return
    for note in truth.warnings:
        st.warning(plain(note))
    images = {}
    for file in image_files:
        if file.name in images:
            st.warning(f"Two photos are named {plain(file.name)}: labels are matched by file name, so only the first is scored.")
            continue
        try:
            images[file.name] = decode_upload(file.getvalue(), file.name)
        except ImageLoadError as exc:
            st.error(f"Skipped: {plain(exc)}")
    matching = match_images(list(images), truth)
    for note in matching.describe():
        st.warning(plain(note))
    if not matching.pairs:
        st.error("No uploaded photo matches a labelled file name, so there is nothing to score.")
        return
    paired = {upload: truth.images[annotated] for upload, annotated in matching.pairs.items()}
    aligned, renames, unknown = align_labels(paired, spec.categories)
    if renames:
        st.info("Label names translated to the detector's: " + ", ".join(f"{a} → {b}" for a, b in renames.items()))
    if unknown:
        drop = st.toggle(f"Leave out classes {spec.title} cannot predict: {', '.join(unknown)}", value=True, key="det_metric_drop")
        if drop:
            for name, image_truth in aligned.items():
                keep = [i for i, label in enumerate(image_truth.labels) if label not in unknown]
                crowd, difficult = np.asarray(image_truth.crowd, bool), np.asarray(image_truth.difficult, bool)
                aligned[name] = type(image_truth)(image_truth.boxes[keep], [image_truth.labels[i] for i in keep],
                                                  crowd[keep], difficult[keep], image_truth.size)
    for name, image_truth in aligned.items():
        for note in size_warnings(name, image_truth, *images[name].shape[:2]):
            st.warning(plain(note))
    predictions: dict[str, Detections] = {}
    progress = st.progress(0.0)
    for number, name in enumerate(aligned):
        progress.progress(number / len(aligned), text=f"Detecting {plain(name)} ({number + 1}/{len(aligned)})")
        predictions[name] = detections_for(spec, images[name]).detections
    progress.empty()
    if settings.classes:
        wanted = set(settings.classes)
        predictions = {n: d.filter(0.0, wanted) for n, d in predictions.items()}
        aligned = {n: _only(t, wanted) for n, t in aligned.items()}
    result = evaluate(aligned, predictions)
    if not result.classes or all(c.num_truth == 0 for c in result.classes):
        st.warning("The labels have no box the detector could be scored on.")
        return
    m = st.columns(5)
    m[0].metric("mAP@[.5:.95] (COCO)", f"{result.map:.3f}", help="Mean over classes of AP averaged over IoU 0.50, 0.55, …, 0.95")
    m[1].metric("mAP@.5 (COCO, 101 pt)", f"{result.map50:.3f}")
    m[2].metric("mAP@.75", f"{result.map75:.3f}", help="Strict localisation: boxes must overlap by 75 %")
    m[3].metric("mAP@.5 (VOC, all points)", f"{result.map50_voc:.3f}", help="Pascal VOC 2010+: area under the precision envelope")
    m[4].metric("mAP@.5 (VOC07, 11 pt)", f"{result.map50_voc07:.3f}")
    st.caption(f"{result.num_images} image(s), {sum(c.num_truth for c in result.classes)} labelled boxes. AP uses every box "
               f"down to score {DETECTION_FLOOR} (it sweeps the threshold itself); the sidebar threshold only changes the drawings.")
    table = pd.DataFrame(result.table())
    st.dataframe(table.round(3), hide_index=True)

    scored = [c for c in result.classes if c.num_truth > 0]
    chosen = st.multiselect("Precision/recall curves for", [c.name for c in scored], default=[c.name for c in scored][:6],
                            key="det_metric_curves")
    curves, ious = st.columns(2)
    curves.plotly_chart(figures.precision_recall_figure(scored, chosen), key="det_metric_pr")
    ious.plotly_chart(figures.ap_per_iou_figure(scored, chosen), key="det_metric_iou")

    st.subheader("Hits and misses")
    name = st.selectbox("Photo", list(aligned), key="det_metric_photo")
    shown = visible(predictions[name], settings.threshold, settings.classes)
    match = match_image(aligned[name], shown, 0.5)
    st.image(draw_match(images[name], aligned[name], shown, match), width="stretch",
             caption="Green: hit (IoU ≥ 0.5 with a label of the same class). Red: false positive (no label, wrong class or a "
                     "duplicate). Grey: matched a 'difficult'/crowd label (not counted). Dashed-white: label nobody found.")
    ids = truth.image_ids
    records = to_coco_results({n: predictions[n] for n in aligned},
                              {n: ids[matching.pairs[n]] for n in aligned if matching.pairs[n] in ids} or None,
                              truth.category_ids or None)
    st.download_button("Download these detections (COCO results JSON)", to_json(records), file_name="detections_coco_results.json",
                       mime="application/json", key="det_metric_json",
                       help="Image and category ids follow your COCO file when you uploaded one, so COCOeval can read both.")


def _only(image_truth, wanted: set[str]):
    keep = [i for i, label in enumerate(image_truth.labels) if label in wanted]
    return type(image_truth)(image_truth.boxes[keep], [image_truth.labels[i] for i in keep], image_truth.crowd[keep],
                             image_truth.difficult[keep], image_truth.size)


# ---------------------------------------------------------------------------------------------
# 7. YOLO


def yolo_tab(settings: Settings) -> None:
    picked = _need_picture(settings)
    if picked is None:
        return
    image, _ = picked
    try:
        from cvdemo.ui.yolo_view import render_yolo_view
    except ImportError:
        st.info("The YOLO output-tensor view is not installed in this build yet.")
        return
    yolo_specs = [s for s in registry.ready_models(Task.DETECTION) if s.head_view == "yolo"]
    spec = settings.spec if settings.spec is not None and settings.spec.head_view == "yolo" else None
    if spec is None:
        if not yolo_specs:
            st.info("No YOLO model is ready on this machine; `python -m cvdemo weights` says how to get one.")
            return
        spec = yolo_specs[0]
        st.caption(f"Showing **{spec.title}** (the sidebar detector is not a YOLO model).")
    timed = detections_for(spec, image)
    render_yolo_view(image, cached_model(spec.name), key="det_yolo", detections=timed.detections, score_threshold=settings.threshold)


# ---------------------------------------------------------------------------------------------
# 8. live


def _process_frame(detector, threshold: float, classes: tuple[str, ...], rgb: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    annotated, detections = detect_and_draw(detector, rgb, threshold, classes or None)
    return annotated, class_summary(detections)


def live_tab(settings: Settings) -> None:
    try:
        from cvdemo.ui.live import live_video
    except ImportError:
        st.info("Live video is not installed in this build.")
        return
    try:
        live_default = registry.default_live_model(Task.DETECTION).name
    except LookupError:
        live_default = None
    spec = model_picker(Task.DETECTION, key="det_live_model", label="Live detector", default=live_default)
    if spec is None:
        return
    detector = cached_model(spec.name, fast=True)
    device = current_device()
    st.caption(f"**{spec.title}** ({spec.family}) on {describe_device(device)}"
               + (" with fp16 autocast" if device.type == "cuda" else "")
               + f" · boxes ≥ {settings.threshold:.2f}" + (f" · only {', '.join(settings.classes)}" if settings.classes else "")
               + ". The live default is the fastest detector here (uploads use the most accurate one). Change the "
                 "detector here, the threshold or classes in the sidebar: the stream keeps running.")
    live_video("det_live", functools.partial(_process_frame, detector, settings.threshold, tuple(settings.classes)),
               help_text=LIVE_HELP, results_title="Latest results", engine=functools.partial(engine_label, detector))


# --- the page's views, in the order shown: title → view (cvdemo.ui.views.show_views) ---------------


VIEWS = {
    "📷 Photos": photos_tab,
    "⚖️ Side by side": side_by_side_tab,
    "✂️ NMS & IoU": nms_tab,
    "🔥 Where a one-stage head looks": head_tab,
    "🧱 Region proposals (R-CNN)": proposals_tab,
    "🪟 Two-stage: RoI pooling & box regression": two_stage_tab,
    "📈 Metrics on your labels": metrics_tab,
    "🟨 YOLO's output tensor": yolo_tab,
    "🟦 YOLO v1 and its loss": yolo_v1_tab,
    "🎥 Live webcam": live_tab,
}
