"""Plotly figures for the segmentation page (built here so they can be tested without Streamlit)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from cvdemo.segmentation.miou import SegmentationScore


def _format(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def grid_heatmap(array: np.ndarray, title: str, *, colorscale: str = "Blues", show_values: bool = True,
                 zmin: float | None = None, zmax: float | None = None, height: int | None = None,
                 x_labels: Sequence[str] | None = None, y_labels: Sequence[str] | None = None) -> go.Figure:
    """A small matrix drawn cell by cell, with its numbers written in (row 0 at the top)."""
    array = np.asarray(array, dtype=np.float64)
    rows, cols = array.shape
    text = [[_format(v) for v in row] for row in array] if show_values else None
    figure = go.Figure(go.Heatmap(
        z=array, x=list(x_labels) if x_labels is not None else None, y=list(y_labels) if y_labels is not None else None,
        text=text, texttemplate="%{text}" if show_values else None, colorscale=colorscale, zmin=zmin, zmax=zmax,
        showscale=False, xgap=1, ygap=1, hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
    ))
    cell = 34 if max(rows, cols) <= 12 else max(8, 420 // max(rows, cols))
    figure.update_layout(title=title, height=height or min(720, 90 + cell * rows), margin=dict(l=10, r=10, t=40, b=10))
    figure.update_yaxes(autorange="reversed", scaleanchor="x" if x_labels is None else None, showgrid=False)
    figure.update_xaxes(showgrid=False, side="top" if x_labels is not None else "bottom")
    return figure


def transposed_matrix_figure(matrix: np.ndarray, input_shape: tuple[int, int], output_shape: tuple[int, int]) -> go.Figure:
    """``Uᵀ``: one column per input pixel, one row per output pixel, zeros left blank."""
    in_labels = [f"x{i},{j}" for i in range(input_shape[0]) for j in range(input_shape[1])]
    out_labels = [f"y{i},{j}" for i in range(output_shape[0]) for j in range(output_shape[1])]
    show_values = matrix.size <= 900
    text = [[(_format(v) if v != 0 else "") for v in row] for row in matrix] if show_values else None
    figure = go.Figure(go.Heatmap(
        z=np.where(matrix == 0, np.nan, matrix), x=in_labels, y=out_labels, text=text,
        texttemplate="%{text}" if show_values else None, colorscale="Viridis", showscale=True, xgap=1, ygap=1,
        hovertemplate="output %{y} += %{z} × input %{x}<extra></extra>",
    ))
    figure.update_layout(
        title=f"Uᵀ: {matrix.shape[0]}×{matrix.shape[1]} (output pixels × input pixels)",
        height=min(1100, 120 + 22 * matrix.shape[0]), margin=dict(l=10, r=10, t=70, b=10),
    )
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(side="top", type="category")
    return figure


def map_heatmap(array: np.ndarray, title: str, *, colorscale: str = "Viridis", zmin: float | None = None,
                zmax: float | None = None, height: int = 300) -> go.Figure:
    """A feature or score map, one square per cell, so coarse maps look as blocky as they are."""
    figure = go.Figure(go.Heatmap(z=np.asarray(array), colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=False,
                                  hovertemplate="cell (%{y}, %{x}): %{z:.3f}<extra></extra>"))
    figure.update_layout(title=dict(text=title, font=dict(size=12)), height=height, margin=dict(l=5, r=5, t=40, b=5))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False)
    figure.update_xaxes(showticklabels=False, showgrid=False, constrain="domain")
    return figure


def rgb_figure(image: np.ndarray, title: str, height: int = 300) -> go.Figure:
    figure = go.Figure(go.Image(z=image))
    figure.update_layout(title=dict(text=title, font=dict(size=12)), height=height, margin=dict(l=5, r=5, t=40, b=5))
    figure.update_xaxes(showticklabels=False, showgrid=False)
    figure.update_yaxes(showticklabels=False, showgrid=False)
    return figure


def profile_figure(transposed: np.ndarray, resized: np.ndarray) -> go.Figure:
    """The middle row of both contribution maps: the checkerboard as a saw-tooth line."""
    figure = go.Figure()
    for name, counts in (("transposed convolution", transposed), ("resize, then convolution", resized)):
        row = counts[counts.shape[0] // 2]
        figure.add_trace(go.Scatter(y=row, mode="lines+markers", name=name, line_shape="hv"))
    figure.update_layout(title="Contributions along the middle row", xaxis_title="output column",
                         yaxis_title="taps landing on the pixel", height=320, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def share_figure(rows: list[dict]) -> go.Figure:
    """Pixel share of each class present, bars in the class colours (the legend)."""
    rows = list(reversed(rows))
    figure = go.Figure(go.Bar(
        x=[r["fraction"] * 100 for r in rows], y=[r["class"] for r in rows], orientation="h",
        marker=dict(color=[r["colour"] for r in rows], line=dict(color="#444", width=1)),
        text=[f"{r['fraction']:.1%}" for r in rows], textposition="auto",
        hovertemplate="%{y}: %{x:.2f}% of the pixels<extra></extra>",
    ))
    figure.update_layout(title="Legend: share of the picture per class", xaxis_title="% of pixels",
                         height=120 + 28 * len(rows), margin=dict(l=10, r=10, t=40, b=10))
    return figure


def iou_figure(score: SegmentationScore) -> go.Figure:
    iou = score.iou
    names = [name for name, value in zip(score.categories, iou) if not np.isnan(value)]
    values = [float(value) for value in iou if not np.isnan(value)]
    figure = go.Figure(go.Bar(x=names, y=values, text=[f"{v:.2f}" for v in values], textposition="auto",
                              marker_color="#4c78a8"))
    figure.add_hline(y=score.miou, line_dash="dash", line_color="#e45756", annotation_text=f"mIoU {score.miou:.3f}")
    figure.update_layout(title="IoU per class (classes in ground truth or prediction)", yaxis=dict(range=[0, 1.05], title="IoU"),
                         height=340, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def confusion_figure(score: SegmentationScore) -> go.Figure:
    """Rows: ground truth; columns: prediction; only classes that occur; each row as % of its pixels."""
    present = np.flatnonzero(score.confusion.sum(axis=0) + score.confusion.sum(axis=1))
    matrix = score.confusion[np.ix_(present, present)].astype(np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    names = [score.categories[int(i)] for i in present]
    figure = go.Figure(go.Heatmap(
        z=share, x=names, y=names, colorscale="Blues", zmin=0, zmax=1,
        text=[[f"{v:.0%}" for v in row] for row in share], texttemplate="%{text}",
        customdata=matrix, hovertemplate="truth %{y} → predicted %{x}: %{customdata:.0f} px<extra></extra>",
    ))
    figure.update_layout(title="Confusion matrix (row = ground truth, % of its pixels)", height=200 + 30 * len(names),
                         margin=dict(l=10, r=10, t=40, b=10))
    figure.update_yaxes(autorange="reversed", title="ground truth", type="category")
    figure.update_xaxes(title="prediction", type="category")
    return figure
