"""The YOLO view: YOLOv3-tiny's per-scale ``S×S×B·(5+C)`` output tensors, on the user's own picture.

The detection page calls :func:`render_yolo_view` inside a tab. All computation lives in
:mod:`cvdemo.yolo.insight` (tested without Streamlit); this module only lays out widgets.
"""

from __future__ import annotations

import functools
from typing import TypeGuard

import numpy as np
import streamlit as st

from cvdemo.results import DetectionInsight, Detections
from cvdemo.ui.common import image_digest, session_memo
from cvdemo.yolo import insight

HELP = """
**What YOLO outputs.** The letterboxed picture (grey margins keep the aspect ratio) goes through
YOLOv3-tiny's 13 convolutional and 6 max-pooling layers and comes out as two grids: 13×13 cells of
32×32 input pixels and 26×26 cells of 16×16 (at 320×320: 10×10 and 20×20). In YOLOv3 every cell
of every scale has **3 anchors** — prior box shapes found by k-means clustering of COCO's boxes,
the large ones on the coarse grid, the small ones on the fine grid — and for each anchor the network
writes **4 box numbers + 1 objectness + 80 class scores = 85**, so each grid is a tensor of
`3 × 85 = 255` channels: `S × S × B·(5 + C)`, each anchor with its own classes.
This is not the lectures' YOLO v1 layout `S × S × (5B + C)` = 7×7×30 (two boxes sharing one set of
20 class probabilities per cell); YOLOv2 brought in 5 priors per cell found by clustering, YOLOv3
3 per scale. The tab **YOLO v1 and its loss** sets the two side by side.

**Decoding one anchor.** Centre = `(col + σ(tx), row + σ(ty)) × stride` — the sigmoid keeps the
centre inside the cell that predicts it; size = `anchor × (exp(tw), exp(th))`; objectness =
`σ(to)`; score of class *c* = `σ(to) · σ(t_c)` (independent sigmoids, not a softmax, so one box
may carry two labels). Then a score threshold, then non-maximum suppression per class. Training
pushes objectness up only in the one cell and anchor responsible for each object (the cell holding
its centre, the anchor of the most similar shape), which is why the objectness maps are so peaked.

**Known weaknesses of YOLOv3-tiny** — try them, they are part of the lesson.
*Close-ups:* an object that fills the frame (a face, a cat's head, a cup seen from 20 cm) is often
missed or boxed badly. Its largest anchor is 344×319 input pixels, the network is shallow, and
COCO objects rarely fill the picture, so full-frame objects are far from what it learned; step
back, or paste the picture smaller on a larger canvas, and it is usually found. *Small or crowded
objects:* the finest grid has 16-pixel cells with 3 anchors each, so tiny objects, and several
objects whose centres share a cell, compete for the same few slots. *Accuracy:* about 33 mAP@0.5 on
COCO, far below full YOLOv3's 55 — it trades accuracy for speed (8.8 M parameters, about 5.6
GFLOPs at 416×416).
"""


def is_yolo_detections(detections: Detections | None) -> TypeGuard[Detections]:
    seen = detections.insight if detections is not None else None
    if seen is None or not seen.levels or seen.candidates is None:
        return False
    return all(level.raw is not None and level.anchors is not None for level in seen.levels)


def _insight(detections: Detections) -> DetectionInsight:
    if detections.insight is None:
        raise ValueError("these detections carry no insight; run a YOLO detector")
    return detections.insight


def is_yolo_detector(detector) -> bool:
    """Whether ``detector`` produces the raw heads this view needs (YOLOv3-tiny from this app does)."""
    from cvdemo.yolo.detector import YoloDetector

    return isinstance(detector, YoloDetector)


def _detections_for(image: np.ndarray, detector, key: str) -> Detections:
    """Detect once per (picture, model) and keep the result for this session's reruns.

    The candidates kept go down to the detector's floor, so moving the sliders below never needs
    the network again.
    """
    ident = (image_digest(image), getattr(detector, "name", type(detector).__name__), getattr(detector, "input_size", None))
    return session_memo(f"{key}-detections", ident, lambda: detector.detect(image, score_threshold=0.01), size=1)


PER_PICTURE = ("picture", "all", "all-drawn")  # what _memo keeps of the current picture


def _memo(key: str, ident, name: str, compute):
    """Per-picture results that no widget changes (display copy, all 2 535 boxes drawn), kept
    across reruns so that moving a slider only redoes what the slider affects."""
    return session_memo(f"{key}-memo", (ident, name), compute, size=len(PER_PICTURE))


def _pick_from_chart(chart_key: str, level_name: str, key: str) -> None:
    """Plotly click → the cell inputs. Runs as a callback, before the widgets are drawn again."""
    event = st.session_state.get(chart_key) or {}
    points = (event.get("selection") or {}).get("points") or []
    if not points:
        return
    point = points[0]
    if point.get("x") is None or point.get("y") is None:
        return
    st.session_state[f"{key}-level"] = level_name
    st.session_state[f"{key}-row"] = int(round(float(point["y"])))
    st.session_state[f"{key}-col"] = int(round(float(point["x"])))


def _clickable_heatmap(values: np.ndarray, title: str, selected, chart_key: str, level_name: str, key: str, hover: str,
                       region) -> None:
    import plotly.graph_objects as go

    figure = insight.heatmap_figure(values, title, selected, hover_label=hover, region=region)
    rows, cols = values.shape
    grid_rows, grid_cols = np.mgrid[0:rows, 0:cols]
    # Heatmap traces cannot be "selected" in Plotly; an invisible marker on every cell can.
    figure.add_trace(go.Scatter(
        x=grid_cols.ravel(), y=grid_rows.ravel(), mode="markers", showlegend=False,
        # A fully transparent colour: Streamlit restyles selected/unselected points' opacity, which
        # would otherwise paint the markers over the heatmap.
        marker={"symbol": "square", "size": max(6, 330 // max(rows, cols)), "color": "rgba(0,0,0,0)", "line": {"width": 0}},
        selected={"marker": {"opacity": 0}}, unselected={"marker": {"opacity": 0}},
        customdata=values.ravel(), hovertemplate=f"row %{{y}}, col %{{x}}<br>{hover} %{{customdata:.3f}}<extra></extra>",
    ))
    # theme=None: the chart keeps its own fonts and background (the scale itself has no theme placeholder colours).
    st.plotly_chart(figure, key=chart_key, theme=None, selection_mode="points",
                    on_select=functools.partial(_pick_from_chart, chart_key, level_name, key))


def render_yolo_view(image: np.ndarray, detector, key: str = "yolo", detections: Detections | None = None,
                     score_threshold: float = 0.3) -> None:
    """Draw the YOLO view of ``image`` (H×W×3 uint8 RGB) for a YOLO ``detector``.

    Pass the page's own ``detections`` when it already ran this detector on this image (they must
    carry ``insight.levels`` and ``insight.candidates``); otherwise the view detects once and caches
    the result in the session. ``key`` prefixes every widget key, so two views can share a page.
    """
    if not is_yolo_detections(detections):
        if not is_yolo_detector(detector):
            st.info("The YOLO view shows the raw output grids of a YOLO model. Pick **YOLOv3-tiny** in the model "
                    "menu to see them.")
            return
        with st.spinner("Running YOLOv3-tiny…"):
            detections = _detections_for(image, detector, key)
    seen = _insight(detections)
    levels = seen.levels
    categories = list(detections.categories)
    image_size = detections.image_size
    # Same picture and model → same outputs, even when the page hands over a fresh result each rerun.
    ident = (image_digest(image), seen.model, seen.input_size)
    picture = _memo(key, ident, "picture", lambda: insight.display_copy(image))
    level_names = [level.name for level in levels]

    with st.expander("How to read this view", expanded=False):
        st.markdown(HELP)

    _summary(levels, detections)

    # The first cell shown is the one behind the most confident box; a new picture resets it.
    if st.session_state.get(f"{key}-image") != ident or st.session_state.get(f"{key}-level") not in level_names:
        index, row, col = insight.best_cell(levels)
        st.session_state[f"{key}-image"] = ident
        st.session_state[f"{key}-level"] = level_names[index]
        st.session_state[f"{key}-row"], st.session_state[f"{key}-col"] = row, col

    st.subheader("1 · The grids and one cell")
    pick_level, pick_row, pick_col = st.columns([2, 1, 1])
    level_name = pick_level.radio("Grid", level_names, key=f"{key}-level", horizontal=True,
                                  help="Coarse grid: big anchors. Fine grid: small anchors.")
    level = levels[level_names.index(level_name)]
    rows, cols = insight.grid_size(level)
    for name, limit in ((f"{key}-row", rows), (f"{key}-col", cols)):  # the other grid may be larger
        st.session_state[name] = int(min(max(int(st.session_state.get(name, 0)), 0), limit - 1))
    row = int(pick_row.number_input("Row", 0, rows - 1, step=1, key=f"{key}-row"))
    col = int(pick_col.number_input("Column", 0, cols - 1, step=1, key=f"{key}-col"))
    st.caption("Or click a cell in a heatmap below. Dashed: the cell's 3 anchor priors; solid: the boxes its anchors "
               "predict from them (thicker = higher objectness).")

    grid_columns = st.columns(len(levels))
    for column, other in zip(grid_columns, levels):
        chosen = (row, col) if other is level else None
        drawn = insight.draw_grid(picture, other, image_size, chosen, categories=categories)
        column.image(drawn, caption=f"{other.name}: {insight.grid_size(other)[0] * insight.grid_size(other)[1]} cells × "
                                    f"{insight.num_anchors(other)} anchors", width="stretch")

    _cell_tables(level, row, col, categories)
    _heatmaps(levels, level, (row, col), categories, picture, image_size, key)
    _pipeline(detections, picture, key, score_threshold, ident)
    _anchor_fit(levels, detections, score_threshold)


def _anchor_fit(levels, detections: Detections, score_threshold: float) -> None:
    st.subheader("Why a box is weak or missing: object size against the anchors")
    candidates = _insight(detections).candidates
    if candidates is None:
        raise ValueError("these detections carry no candidates; run a YOLO detector")
    rows = insight.anchor_fit(levels, candidates)
    if not rows:
        st.info("No candidate box at all on this picture.")
        return
    st.caption("The best candidate of each class, found or not, measured in the network's input pixels against every anchor "
               "of both grids. In training an object teaches only the anchor of the most similar shape (shape IoU, both "
               "centred), so an object much **bigger than every anchor** (a close-up filling the frame), much **smaller** "
               f"(a face across the room), or of a shape no anchor has, gets low objectness: below {score_threshold:.2f} "
               "it is not drawn. A shape IoU under about 0.3 means no anchor is a good start for the box.")
    st.dataframe(rows, hide_index=True, width="stretch")


def _summary(levels, detections: Detections) -> None:
    side = insight.input_size(levels[0])
    height, width = _insight(detections).input_size or (side, side)
    shapes = " and ".join(f"{level.raw.shape[1]}×{level.raw.shape[2]}×{level.raw.shape[0]}" for level in levels)
    total = sum(insight.num_anchors(level) * level.raw.shape[1] * level.raw.shape[2] for level in levels)
    per_anchor = levels[0].raw.shape[0] // insight.num_anchors(levels[0])
    st.markdown(f"Input **{width}×{height}** (letterboxed) → output tensors **{shapes}**: every cell holds "
                f"{insight.num_anchors(levels[0])} anchors × (4 box + 1 objectness + {per_anchor - 5} classes) = "
                f"{levels[0].raw.shape[0]} numbers, **{total:,} candidate boxes** in all.")


def _cell_tables(level, row: int, col: int, categories: list[str]) -> None:
    st.markdown(f"**Cell (row {row}, col {col}) of the {level.name} grid** — what its anchors predict:")
    predictions = insight.cell_predictions(level, row, col, categories, top_k=3)
    st.dataframe([p.as_record() for p in predictions], hide_index=True)
    with st.expander(f"The raw tensor slice: {insight.num_anchors(level)} anchors × {level.raw.shape[0] // insight.num_anchors(level)} numbers"):
        st.caption("Exactly the network's output at this cell, before any sigmoid or exp. Scroll right for the 80 class logits.")
        st.dataframe(insight.raw_slice_table(level, row, col, categories), hide_index=True)


def _heatmaps(levels, level, cell, categories: list[str], picture: np.ndarray, image_size, key: str) -> None:
    st.subheader("2 · Heatmaps per grid cell")
    ranked = insight.top_labels(levels, k=len(categories))
    label = st.selectbox("Class", ranked, format_func=lambda i: categories[i], key=f"{key}-class",
                         help="Classes ordered by their best cell score in this picture.")
    on_photo = st.toggle("Show on the photo", value=False, key=f"{key}-overlay",
                         help="Off: clickable charts of the whole input grid (dotted: where the photo lies). On: the same "
                              "values painted over the photo, one block per cell.")
    for other in levels:
        selected = cell if other is level else None
        left, right = st.columns(2)
        objectness = insight.objectness_map(other)
        scores = insight.class_map(other, label)
        if on_photo:
            left.image(insight.heatmap_overlay(picture, other, objectness, image_size), width="stretch",
                       caption=f"{other.name}: objectness (best of the cell's anchors)")
            right.image(insight.heatmap_overlay(picture, other, scores, image_size), width="stretch",
                        caption=f"{other.name}: objectness × P({categories[label]})")
        else:
            region = insight.region_in_cells(other, image_size)
            with left:
                _clickable_heatmap(objectness, f"{other.name}: objectness", selected, f"{key}-obj-{other.stride}",
                                   other.name, key, "objectness", region)
            with right:
                _clickable_heatmap(scores, f"{other.name}: obj × P({categories[label]})", selected,
                                   f"{key}-cls-{other.stride}", other.name, key, "score", region)


def _pipeline(detections: Detections, picture: np.ndarray, key: str, score_threshold: float, ident) -> None:
    st.subheader("3 · From every prediction to the final boxes")
    seen = _insight(detections)
    floor = seen.candidate_floor if seen.candidate_floor is not None else 0.01
    left, right = st.columns(2)
    threshold = left.slider("Score threshold: objectness × class probability", max(0.01, floor), 0.95,
                            float(min(max(score_threshold, floor), 0.95)), 0.01, key=f"{key}-threshold")
    iou = right.slider("NMS IoU threshold", 0.1, 0.9, seen.nms_threshold if seen.nms_threshold is not None else 0.45, 0.05,
                       key=f"{key}-iou", help="A box is dropped when it overlaps a better box of the same class by more than this.")
    everything = _memo(key, ident, "all", lambda: insight.all_predictions(
        seen.levels, detections.categories, detections.image_size))
    stages = insight.pipeline_stages(detections, threshold, iou, everything)
    all_drawn = _memo(key, ident, "all-drawn", lambda: insight.draw_boxes(picture, everything, fade_by_score=True, labels=False))
    panels = (
        ("All predictions", stages.all_boxes, all_drawn,
         "Every anchor of every cell with its best class; opacity follows the score."),
        (f"Score ≥ {stages.score_threshold:.2f}", stages.above_threshold, None,
         "Each (anchor, class) pair above the threshold: several boxes per object."),
        ("After NMS", stages.after_nms, None, "Per class, keep the best box and drop those overlapping it."),
    )
    for column, (title, dets, drawn, caption) in zip(st.columns(3), panels):
        column.metric(title, f"{len(dets):,}")
        column.image(drawn if drawn is not None else insight.draw_boxes(picture, dets), caption=caption, width="stretch")
    if len(stages.after_nms):
        st.dataframe(stages.after_nms.to_records(), hide_index=True)
