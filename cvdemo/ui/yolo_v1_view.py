"""The detection page's "YOLO v1 and its loss" tab: widgets only; the numbers come from
:mod:`cvdemo.detection.yolo_v1`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cvdemo import registry
from cvdemo.detection import yolo_v1
from cvdemo.detection.drawing import draw_boxes, line_width
from cvdemo.registry import Task
from cvdemo.ui.common import image_digest
from cvdemo.ui.detection_input import Settings, detections_for
from cvdemo.yolo import insight

WHY_CHANGED = """
**Why the layout changed.** In v1 a cell's two boxes share **one** class distribution, so a cell can
only say "dog" even when a dog and a bicycle have their centres in it, and 7×7 cells give at most 49
objects. The output also comes from fully connected layers, so the grid is fixed at 7×7 for a
448×448 input. YOLOv2 made the head convolutional (the grid follows the input: 13×13 at 416) and
predicted boxes as offsets from **5 priors per cell found by k-means clustering** of the training
boxes, each prior with its own classes: `B·(5 + C)`. YOLOv3 keeps that layout and spreads **3 anchors
per cell over each scale** (13×13 and 26×26 in the tiny model, plus 52×52 in the full one), with
independent sigmoids instead of a softmax for the classes.
"""

LOSS_HELP = """
The lectures' loss, one ground-truth box at a time. Only the **responsible** slot, the anchor whose
shape fits the box best (over both scales, as YOLOv3 assigns it) in the cell holding the box's
centre, gets the coordinate, objectness and class terms; every other slot of every cell is pushed
towards confidence 0 by the λnoobj term. Following v1: `x, y` are the centre's offset inside the
cell, `w, h` are fractions of the input side, the confidence target `c` is the IoU of the
prediction with the truth, λcoord = 5, λnoobj = 0.5. YOLOv3 itself trains with binary cross-entropy
for objectness and classes and ignores slots that already overlap a box by IoU > 0.5; the
sum-squared form here is the one the lectures write down.
"""


def _yolo_spec(settings: Settings):
    if settings.spec is not None and settings.spec.head_view == "yolo":
        return settings.spec
    ready = [s for s in registry.ready_models(Task.DETECTION) if s.head_view == "yolo"]
    return ready[0] if ready else None


def yolo_v1_tab(settings: Settings) -> None:
    st.caption("The lectures' YOLO (v1, Redmon et al. 2016) divides the picture into an **S×S** grid; every cell predicts "
               "**B** boxes (x, y, w, h, confidence) and **C** class probabilities, an **S×S×(5B+C)** tensor: "
               "7×7×30 for B = 2 and Pascal VOC's 20 classes. Below: that layout on your picture, beside the "
               "YOLOv3-tiny this app runs, and the loss of a ground-truth box you place against its live predictions.")
    spec = _yolo_spec(settings)
    input_side = spec.input_size[0] if spec is not None else 416
    layouts = [yolo_v1.YOLO_V1, yolo_v1.yolov3_layout(input_side, (input_side // 32, input_side // 16))]
    st.dataframe(pd.DataFrame([layout.as_record() for layout in layouts]), hide_index=True)
    with st.expander("Why the layout changed from v1 to v2 and v3", expanded=False):
        st.markdown(WHY_CHANGED)
    if settings.picture is None:
        st.info("Choose a picture in the sidebar (upload, webcam snapshot or a sample photo).")
        return
    if spec is None:
        st.info("No YOLO model is ready on this machine; `python -m cvdemo weights` says how to get one.")
        return
    image, _ = settings.picture
    detections = detections_for(spec, image).detections
    if detections.insight is None or not detections.insight.levels:
        raise ValueError(f"{spec.title} returned no head levels; the YOLO v1 view needs a YOLO detector")
    levels = detections.insight.levels
    categories = list(detections.categories)
    height, width = image.shape[:2]

    st.subheader("1 · Your ground-truth box")
    digest = image_digest(image)[:12]
    if len(detections):
        best = int(np.argmax(detections.scores))
        start, start_label = detections.boxes[best], int(detections.labels[best])
        st.caption(f"It starts as {spec.title}'s most confident box ({categories[start_label]}, "
                   f"{detections.scores[best]:.2f}); drag it anywhere.")
    else:
        start, start_label = np.array([width * 0.3, height * 0.3, width * 0.7, height * 0.7]), 0
    left, right, kind = st.columns([2, 2, 1])
    xs = left.slider("x from – to (pixels)", 0, width, (int(start[0]), max(int(start[0]) + 1, int(start[2]))),
                     key=f"det_v1_x_{digest}")
    ys = right.slider("y from – to (pixels)", 0, height, (int(start[1]), max(int(start[1]) + 1, int(start[3]))),
                      key=f"det_v1_y_{digest}")
    label = kind.selectbox("Class", range(len(categories)), index=start_label, format_func=lambda i: categories[i],
                           key=f"det_v1_class_{digest}")
    box = (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))
    if box[2] <= box[0] or box[3] <= box[1]:
        st.warning("The box needs a width and a height: move the sliders' two ends apart.")
        return
    loss = yolo_v1.yolo_loss(levels, box, label)

    picture = insight.display_copy(image)
    fx, fy = picture.shape[1] / width, picture.shape[0] / height
    level = levels[loss.level]
    v1_row, v1_col = yolo_v1.v1_cell(box, (height, width))
    a, b = st.columns(2)
    a.image(yolo_v1.draw_v1_grid(picture, box, (height, width)), width="stretch",
            caption=f"YOLO v1: 7×7 cells over the photo (stretched to 448×448). The centre falls in cell "
                    f"(row {v1_row}, col {v1_col}): that cell's 30 numbers must describe this box.")
    v3 = insight.draw_grid(picture, level, (height, width), (loss.row, loss.col), show_predictions=False)
    scale = np.array([fx, fy, fx, fy])
    # The truth goes on top: a good prediction would otherwise hide it.
    v3 = draw_boxes(v3, np.array([loss.predicted_box, box]) * scale,
                    [insight.ANCHOR_COLOURS[loss.anchor % 3], (255, 255, 255)], thickness=line_width(*picture.shape[:2]) + 1)
    b.image(v3, width="stretch",
            caption=f"{spec.title}: {level.name} grid, cell (row {loss.row}, col {loss.col}). Dashed: its 3 anchor priors; "
                    f"anchor #{loss.anchor} ({loss.anchor_shape[0]:.0f}×{loss.anchor_shape[1]:.0f} px, shape IoU "
                    f"{loss.anchor_fit:.2f}) is responsible; solid colour: what it predicts (IoU {loss.iou:.2f} with your box, white).")
    with st.expander(f"The v1 cell's 30 target numbers for this box (class "
                     f"{yolo_v1.voc_name(categories[label]) or categories[label] + ': not a VOC class, all 20 zero'})"):
        st.dataframe(pd.DataFrame(yolo_v1.v1_target_cell(box, (height, width), categories[label])), hide_index=True)

    st.subheader("2 · The loss, term by term")
    st.markdown(LOSS_HELP)
    names = ("x", "y", "w", "h")
    st.dataframe(pd.DataFrame({"": ["target", f"YOLOv3-tiny, anchor #{loss.anchor}"],
                               **{n: [t, p] for n, t, p in zip(names, loss.target, loss.predicted)},
                               "c": [loss.iou, loss.confidence],
                               f"p({categories[label]})": [1.0, loss.class_probability]}), hide_index=True)
    table = pd.DataFrame([{"term": t.name, "formula": t.formula, "weight": t.weight, "sum": t.unweighted,
                           "value": t.value} for t in loss.terms])
    st.dataframe(table, hide_index=True)
    figure = go.Figure(go.Bar(x=[t.value for t in loss.terms], y=[t.name for t in loss.terms], orientation="h",
                              text=[f"{t.value:.4f}" for t in loss.terms], textposition="auto"))
    figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         title=f"Total loss for this box: {loss.total:.4f}", xaxis_title="contribution")
    st.plotly_chart(figure, key="det_v1_loss_chart")
    st.markdown("**The same box under YOLOv3's own loss.** The *Neural Networks 3/3* deck writes the detector loss as "
                "α₁·L_localization + α₂·L_object confidence + α₃·L_classification with **binary cross-entropy** for the "
                "confidence and **cross-entropy** for the classes, which is how YOLOv3 is trained (independent sigmoids, "
                "hence binary cross-entropy per class):")
    st.dataframe(pd.DataFrame([{"term": t.name, "formula": t.formula, "value": t.value} for t in loss.cross_entropy_terms]),
                 hide_index=True)
    st.caption(f"The λnoobj term sums ĉ² over all {loss.empty_slots:,} other slots of both grids, so it hardly moves "
               "with your box: it is what the picture's empty cells cost. Drag the box off the object and watch the "
               "centre, size, objectness and class terms grow.")
