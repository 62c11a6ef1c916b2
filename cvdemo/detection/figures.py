"""Plotly figures for the detection page (built here so they can be tested without Streamlit)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import plotly.graph_objects as go

from cvdemo.detection.drawing import class_color
from cvdemo.detection.metrics import COCO_IOU_THRESHOLDS, ClassResult


def _rgb(name: str) -> str:
    return "rgb" + str(class_color(name))


def precision_recall_figure(classes: Sequence[ClassResult], chosen: Collection[str]) -> go.Figure:
    """Precision against recall at IoU 0.5 for each chosen class, with the monotone envelope AP integrates."""
    figure = go.Figure()
    for cls in classes:
        if cls.name not in chosen:
            continue
        color = _rgb(cls.name)
        curve = cls.curve
        figure.add_trace(go.Scatter(x=curve.recall, y=curve.precision, mode="lines+markers", name=f"{cls.name} (AP@.5 {cls.ap50:.2f})",
                                    line={"color": color}, customdata=curve.scores, marker={"size": 5},
                                    hovertemplate="recall %{x:.2f}, precision %{y:.2f}<br>score ≥ %{customdata:.2f}<extra></extra>"))
        figure.add_trace(go.Scatter(x=curve.recall, y=curve.interpolated, mode="lines", line={"color": color, "dash": "dot", "shape": "hv"},
                                    name=f"{cls.name} envelope", showlegend=False, hoverinfo="skip"))
    figure.update_layout(xaxis_title="recall", yaxis_title="precision", xaxis_range=[0, 1.02], yaxis_range=[0, 1.05], height=420,
                         margin={"t": 30}, title="IoU 0.5 · dotted: the monotone envelope AP integrates")
    return figure


def ap_per_iou_figure(classes: Sequence[ClassResult], chosen: Collection[str]) -> go.Figure:
    """Each chosen class's AP at every COCO IoU threshold from 0.50 to 0.95."""
    figure = go.Figure()
    for cls in classes:
        if cls.name in chosen:
            figure.add_trace(go.Scatter(x=COCO_IOU_THRESHOLDS, y=cls.ap_per_iou, mode="lines+markers", name=cls.name,
                                        line={"color": _rgb(cls.name)}))
    figure.update_layout(xaxis_title="IoU threshold for a hit", yaxis_title="AP", yaxis_range=[0, 1.05], height=420, margin={"t": 30},
                         title="Stricter overlap, lower AP: COCO's mAP averages these")
    return figure
