"""The detection page's "Two-stage detection" tab: widgets only; the numbers come from
:mod:`cvdemo.detection.two_stage`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from cvdemo import registry
from cvdemo.detection import overfeat, two_stage
from cvdemo.detection.drawing import draw_boxes
from cvdemo.detection.proposals import selective_search
from cvdemo.registry import Task
from cvdemo.ui.common import cached_model, image_digest, in_session_memo, session_memo
from cvdemo.ui.detection_input import Settings, detections_for
from cvdemo.yolo.insight import display_copy

POOLING_HELP = """
Fast R-CNN runs the CNN **once** on the whole picture and cuts every proposal out of the feature
map, pooling it to a fixed **7×7** so that the same fully connected head can take proposals of any
size. **RoI pooling** does it with two roundings: the proposal's corners are rounded to whole
feature cells, and the 7×7 bin edges are rounded again, so bins differ in size and some cells are
read twice; each bin is a **max**. At stride 16 one rounding can move an edge by up to 8 pixels: the
red region is what it reads instead of the white proposal. **RoIAlign** (Mask R-CNN) rounds nothing:
the proposal's real coordinates are split into 7×7 equal bins, each bin is sampled at 2×2 points
by bilinear interpolation of the 4 nearest cells, and the samples are averaged. That matters most for
masks, where a few pixels of misalignment are visible.
"""

PARAMETERISATION_HELP = r"""
The head does not output box corners; it outputs how to move and stretch the proposal
$P = (x_a, y_a, w_a, h_a)$ (centre, size) into the object $G = (x, y, w, h)$:
$t_x = (x - x_a)/w_a,\; t_y = (y - y_a)/h_a,\; t_w = \log(w/w_a),\; t_h = \log(h/h_a)$.
Offsets scale with the proposal, so big and small proposals learn the same numbers, and the log keeps
the widths positive. Fast R-CNN trains class scores and these offsets together:
$L(p, u, t^u, v) = L_{cls}(p, u) + \lambda\,[u \ge 1]\,L_{loc}(t^u, v)$ with $L_{cls} = -\log p_u$ and
$L_{loc} = \sum_{i \in \{x,y,w,h\}} \mathrm{smooth}_{L1}(t^u_i - v_i)$; proposals with IoU ≥ 0.5 with an object
are labelled with its class $u \ge 1$, the rest are background ($u = 0$) and pay no box loss. The Faster
R-CNN lecture writes the box loss as squared differences of $x, y, \log w, \log h$; both are shown.
"""

OVERFEAT_HELP = """
**Before proposals: OverFeat (Sermanet et al., 2013).** A classifier slid convolutionally over the
picture at several scales gives a class score at every location of a coarse grid; a second head,
trained with an ℓ2 loss while the convolutional layers stay fixed, **regresses a box (x, y, w, h) at
every location**, and the boxes are merged. Localisation becomes regression. Its drawbacks: two
disjoint heads with their own losses, an ad-hoc merge, no reasoning about the whole picture. R-CNN
instead classified ~2000 proposals with CNN features and **SVMs** and refined them with the
parameterised regression above; YOLO and SSD brought the per-location regression back, trained end
to end. Open **🟨 YOLO's output tensor** to see a box regressed at every cell and anchor.
"""


def _default_boxes(settings: Settings, image: np.ndarray) -> tuple[np.ndarray, str, float]:
    """The sidebar detector's most confident box (the object), its class and score; a centred box without one."""
    height, width = image.shape[:2]
    if settings.spec is not None:
        found = detections_for(settings.spec, image).detections
        if len(found):
            best = int(np.argmax(found.scores))
            return found.boxes[best].astype(np.float64), found.label_names[best], float(found.scores[best])
    return np.array([width * 0.3, height * 0.3, width * 0.7, height * 0.7]), "object", 0.8


def _box_sliders(label: str, box: np.ndarray, size: tuple[int, int], key: str) -> tuple[float, float, float, float]:
    height, width = size
    left, right = st.columns(2)
    xs = left.slider(f"{label}: x from – to", 0, width, (int(box[0]), max(int(box[0]) + 1, int(box[2]))), key=f"{key}_x")
    ys = right.slider(f"{label}: y from – to", 0, height, (int(box[1]), max(int(box[1]) + 1, int(box[3]))), key=f"{key}_y")
    return float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1])


def _pooled_figure(pool: np.ndarray, align: np.ndarray, channel: int) -> go.Figure:
    figure = make_subplots(1, 3, subplot_titles=("RoI pooling (max)", "RoIAlign (bilinear mean)", "difference"),
                           horizontal_spacing=0.06)
    top = float(max(pool.max(), align.max()))
    for index, (values, scale) in enumerate(((pool, "Viridis"), (align, "Viridis"), (pool - align, "RdBu"))):
        spread = float(np.abs(values).max()) or 1.0
        figure.add_trace(go.Heatmap(z=values, colorscale=scale, showscale=index == 2,
                                    zmin=-spread if index == 2 else 0, zmax=spread if index == 2 else top,
                                    texttemplate="%{z:.1f}", textfont={"size": 9}),
                         1, index + 1)
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         title=f"Channel {channel}, 7×7 bins")
    return figure


def two_stage_tab(settings: Settings) -> None:
    st.caption("Two-stage detectors first propose regions, then classify and refine each one. Below, on MobileNetV2's "
               "real features of your picture: how a proposal is pooled to 7×7 (RoI pooling vs RoIAlign), how its box "
               "correction is parameterised and scored, and how fast R-CNN, Fast R-CNN and Faster R-CNN are.")
    if settings.picture is None:
        st.info("Choose a picture in the sidebar (upload, webcam snapshot or a sample photo).")
        return
    if not registry.get("mobilenet_v2").ready:
        st.info("MobileNetV2's weights are not ready here; `python -m cvdemo weights` says how to get them.")
        return
    image, _ = settings.picture
    height, width = image.shape[:2]
    digest = image_digest(image)[:12]
    classifier = cached_model("mobilenet_v2")
    obj, class_name, score = _default_boxes(settings, image)

    st.subheader("1 · RoI pooling vs RoIAlign")
    with st.expander("What the two poolings do", expanded=False):
        st.markdown(POOLING_HELP)
    # A proposal a few feature cells wide, at the object's centre, shows both roundings clearly.
    cx, cy = (obj[0] + obj[2]) / 2, (obj[1] + obj[3]) / 2
    half_w, half_h = min(obj[2] - obj[0], 0.3 * width) / 2, min(obj[3] - obj[1], 0.3 * height) / 2
    start = np.clip([cx - half_w + 3, cy - half_h + 5, cx + half_w + 3, cy + half_h + 5], 0, [width, height, width, height])
    proposal = _box_sliders("Proposal", start, (height, width), f"det_two_roi_{digest}")
    if proposal[2] <= proposal[0] or proposal[3] <= proposal[1]:
        st.warning("The proposal needs a width and a height: move the sliders' two ends apart.")
        return
    stride = st.radio("Feature map", [8, 16, 32], index=1, horizontal=True, key="det_two_stride",
                      format_func=lambda s: f"stride {s}", help="MobileNetV2 after the blocks that reach this stride.")
    feature_map = session_memo("det_two_features", (digest, stride),
                               lambda: two_stage.mobilenet_features(classifier, image, stride), size=3)
    fh, fw = feature_map.size
    quant = two_stage.quantisation(proposal, feature_map)
    picture = display_copy(image)
    a, b = st.columns(2)
    a.image(two_stage.draw_roi_pool(picture, (height, width), feature_map, proposal), width="stretch",
            caption=f"RoI pooling: {fh}×{fw} feature cells (grey), proposal (white), the whole cells it reads and its "
                    "7×7 bins (red)")
    b.image(two_stage.draw_roi_align(picture, (height, width), feature_map, proposal), width="stretch",
            caption="RoIAlign: the proposal's exact 7×7 bins and 2×2 bilinear sample points per bin (green)")
    shift = quant.edge_shift
    m1, m2, m3 = st.columns(3)
    m1.metric("Feature cell", f"{1 / feature_map.spatial_scale:.1f} px")
    m2.metric("RoI pooling moves the edges by", f"{np.abs(shift).max():.1f} px",
              help=f"left {shift[0]:+.1f}, top {shift[1]:+.1f}, right {shift[2]:+.1f}, bottom {shift[3]:+.1f} pixels")
    m3.metric("IoU of what it reads with the proposal", f"{quant.iou:.3f}", help="RoIAlign reads the proposal itself: IoU 1.")
    pooled = two_stage.roi_pool(feature_map.features, proposal, feature_map.spatial_scale).numpy()
    aligned = two_stage.roi_align(feature_map.features, proposal, feature_map.spatial_scale).numpy()
    strongest = int(np.argmax(aligned.mean(axis=(1, 2))))
    channel = st.number_input("Channel", 0, pooled.shape[0] - 1, strongest, key=f"det_two_channel_{stride}",
                              help="Starts at the channel with the largest mean RoIAlign response.")
    st.plotly_chart(_pooled_figure(pooled[channel], aligned[channel], int(channel)), key="det_two_pooled")
    st.caption(f"Over all {pooled.shape[0]} channels the two 7×7×{pooled.shape[0]} outputs differ by "
               f"{np.abs(pooled - aligned).mean():.3f} on average (activations average {np.abs(aligned).mean():.3f}).")

    st.subheader("2 · Box parameterisation and the multi-task loss")
    st.markdown(PARAMETERISATION_HELP)
    truth = _box_sliders("Object (ground truth)", obj, (height, width), f"det_two_truth_{digest}")
    # The default proposal is the object shifted and enlarged, as a real proposal would be.
    ow, oh = obj[2] - obj[0], obj[3] - obj[1]
    start = np.clip(obj + [0.1 * ow, -0.1 * oh, 0.25 * ow, 0.1 * oh], 0, [width, height, width, height])
    proposal = _box_sliders("Proposal", start, (height, width), f"det_two_prop_{digest}")
    if min(truth[2] - truth[0], truth[3] - truth[1], proposal[2] - proposal[0], proposal[3] - proposal[1]) <= 0:
        st.warning("Both boxes need a width and a height.")
        return
    targets = two_stage.encode(proposal, truth)
    st.markdown("The head's output $t^u$: start at the proposal (all 0) and move towards the targets $v$.")
    columns = st.columns(5)
    predicted_deltas = [columns[i].slider(name, -1.5, 1.5, float(np.clip(round(v / 2, 2), -1.5, 1.5)), 0.01,
                                          key=f"det_two_t{i}_{digest}")
                        for i, (name, v) in enumerate(zip(("tx", "ty", "tw", "th"), targets))]
    p_u = columns[4].slider(f"p({class_name})", 0.01, 1.0, float(round(score, 2)), 0.01, key=f"det_two_p_{digest}",
                            help="The head's probability for the proposal's true class (starts at the detector's score).")
    predicted = two_stage.decode(proposal, predicted_deltas)
    loss = two_stage.multitask_loss(proposal, truth, predicted, p_u)
    left, right = st.columns([1, 1])
    factor = np.array([picture.shape[1] / width, picture.shape[0] / height] * 2)
    left.image(draw_boxes(picture, np.array([proposal, truth, predicted]) * factor,
                          [(255, 210, 0), (255, 255, 255), (0, 200, 255)], ["proposal P", "object G", "P moved by t"]),
               width="stretch", caption=f"IoU(proposal, object) = {loss.proposal_iou:.2f} → "
                                        + (f"foreground, u = {class_name}" if loss.foreground else "background, u = 0"))
    right.dataframe(pd.DataFrame({"": ["tx", "ty", "tw", "th"], "target v": loss.targets, "head t^u": loss.predicted,
                                  "smooth L1(t − v)": loss.per_coordinate}), hide_index=True)
    right.dataframe(pd.DataFrame([
        {"term": "L_cls = −log p_u", "value": loss.classification},
        {"term": "L_loc = Σ smooth L1" + ("" if loss.foreground else " (background: not counted)"), "value": loss.localisation},
        {"term": "L = L_cls + λ·L_loc (λ = 1)", "value": loss.total},
        {"term": "lecture's l_box: Σ (t − v)²", "value": loss.squared},
    ]), hide_index=True)

    st.subheader("3 · R-CNN → Fast R-CNN → Faster R-CNN, timed here")
    _pipeline_section(settings, image, digest)
    st.subheader("4 · Before proposals: OverFeat's localisation as regression")
    st.markdown(OVERFEAT_HELP)
    _overfeat_section(classifier, image, obj, digest)


def _overfeat_section(classifier, image: np.ndarray, obj: np.ndarray, digest: str) -> None:
    x1, y1, x2, y2 = (round(float(v)) for v in obj)
    crop = image[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
    st.caption("Here: MobileNetV2's convolutional layers stay fixed; a linear regression head (ridge, ℓ2 loss, solved in "
               "closed form) learns to predict the box from each 32×32-pixel cell of its 7×7 map. It trains on pictures the "
               "app composes: the object the sidebar detector found in your photo, pasted at random places and sizes on "
               "textures, so every box is known. A second linear head, fitted the same way, scores each cell object or "
               "background and decides which cells' boxes are merged.")
    key = (digest, tuple(int(v) for v in obj))
    if not (st.button("Train the regression head", key="det_overfeat_train", type="primary")
            or in_session_memo("det_overfeat", key)):
        st.info("Press **Train the regression head**: 60 MobileNetV2 passes and a 1281×4 least-squares solve.")
        return

    def train():
        progress = st.progress(0.0, text="composing pictures…")
        try:
            return overfeat.train_and_test(classifier, crop, on_progress=lambda f, text: progress.progress(f, text=text))
        finally:
            progress.empty()

    result = session_memo("det_overfeat", key, train, size=2)
    m1, m2, m3 = st.columns(3)
    m1.metric("Cells the regression head learnt from", f"{result.regressor.training_cells:,}",
              help="Only cells whose centre lies on the object are trained to regress its box, as in OverFeat.")
    m2.metric("Mean IoU of the merged box (held out)", f"{result.iou.mean():.2f}")
    m3.metric("Baseline: “the whole picture”", f"{result.whole_picture_iou.mean():.2f}")
    columns = st.columns(4)
    for index, column in enumerate(columns):
        column.image(overfeat.draw_localisation(result.test.images[index], result.predicted[index], result.confidence[index],
                                                result.merged[index], result.test.boxes[index]), width="stretch",
                     caption=f"held-out picture {index + 1}: IoU {result.iou[index]:.2f}")
    st.caption("Thin boxes: what each of the 49 cells regresses (brighter = the object head is surer of its cell); white: "
               "the truth; cyan: the confidence-weighted merge of the best cells. Each cell predicts the whole object from "
               "what it sees, which is why cells far inside the object agree and cells at its edge disagree.")


def _pipeline_section(settings: Settings, image: np.ndarray, digest: str) -> None:
    st.caption("The lectures' figures were measured on 2014–2016 GPUs with VGG/AlexNet backbones; here the same designs "
               "are rebuilt from this app's parts (MobileNetV2, OpenCV's selective search) and timed on this machine. "
               "The ratios, not the seconds, are the lesson.")
    detector_specs = [s for s in registry.ready_models(Task.DETECTION)
                      if s.family == "two-stage" or s.head_view == "yolo"][:3]
    key = (digest, tuple(s.name for s in detector_specs))
    if not (st.button("Time the pipelines", key="det_two_time", type="primary") or in_session_memo("det_two_timings", key)):
        st.info("Press **Time the pipelines**: selective search, 8 MobileNetV2 crops, one whole-picture pass, RoIAlign of "
                "2000 proposals and each ready detector, a few seconds in all.")
        return

    def measure():
        progress = st.progress(0.0, text="selective search…")
        try:
            proposals = selective_search(image, "fast")
            detectors = [(spec.title, cached_model(spec.name).detect) for spec in detector_specs]
            return two_stage.time_pipelines(cached_model("mobilenet_v2"), image, proposals.seconds, detectors=detectors,
                                            on_progress=lambda f, text: progress.progress(f, text=text))
        finally:
            progress.empty()

    timings = session_memo("det_two_timings", key, measure, size=2)
    rows = [{"design": t.method, "lectures": t.lecture,
             "here": f"{t.seconds:.2f} s" if t.seconds >= 1 else f"{t.seconds * 1000:.0f} ms",
             "FPS here": round(1 / t.seconds, 2), "how": t.how} for t in timings]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    figure = go.Figure()
    figure.add_trace(go.Bar(name="lectures", y=[t.method for t in timings], x=[t.lecture_seconds for t in timings],
                            orientation="h"))
    figure.add_trace(go.Bar(name="this machine", y=[t.method for t in timings], x=[t.seconds for t in timings],
                            orientation="h"))
    figure.update_layout(barmode="group", height=320, yaxis_autorange="reversed", xaxis_type="log",
                         xaxis_title="seconds per image (log scale)", margin={"l": 10, "r": 10, "t": 30, "b": 10})
    st.plotly_chart(figure, key="det_two_timing_chart")
    rcnn, fast = timings[0], timings[1]
    st.caption(f"Sharing one CNN pass makes Fast R-CNN {rcnn.seconds / fast.seconds:.0f}× faster than R-CNN here "
               f"(lectures: {rcnn.lecture_seconds / fast.lecture_seconds:.0f}×). What is left is mostly selective search, "
               "which is why Faster R-CNN moved the proposals onto the shared features (the RPN).")
    if not any(s.family == "two-stage" for s in detector_specs):
        st.caption("Faster R-CNN is not downloaded here (`python -m cvdemo weights fetch fasterrcnn-mobilenet`, online), "
                   "so its row is missing.")
