"""Plotly figures for the face pages (no Streamlit here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cvdemo.faces.losses import LossReport
from cvdemo.faces.metrics import Projection, Rates, Roc

SAME = "#2ca02c"
DIFFERENT = "#d62728"


def distance_bar(distance: float, threshold: float, maximum: float = 1.2) -> go.Figure:
    """Where a distance falls relative to the threshold: left = same person, right = different."""
    fig = go.Figure()
    top = max(maximum, distance * 1.1, threshold * 1.2)
    fig.add_shape(type="rect", x0=0, x1=threshold, y0=0, y1=1, fillcolor=SAME, opacity=0.18, line_width=0)
    fig.add_shape(type="rect", x0=threshold, x1=top, y0=0, y1=1, fillcolor=DIFFERENT, opacity=0.18, line_width=0)
    fig.add_vline(x=threshold, line_dash="dash", annotation_text=f"threshold {threshold:.2f}", annotation_position="top")
    fig.add_trace(go.Scatter(x=[distance], y=[0.5], mode="markers+text", marker=dict(size=18, color="black", symbol="diamond"),
                             text=[f"{distance:.3f}"], textposition="bottom center", hoverinfo="skip", showlegend=False))
    fig.add_annotation(x=threshold / 2, y=0.92, text="same person", showarrow=False, font=dict(color=SAME))
    fig.add_annotation(x=(threshold + top) / 2, y=0.92, text="different people", showarrow=False, font=dict(color=DIFFERENT))
    fig.update_layout(height=150, margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(range=[0, top], title="Euclidean distance between descriptors"),
                      yaxis=dict(visible=False, range=[0, 1]))
    return fig


def distance_heatmap(matrix: np.ndarray, labels: list[str], threshold: float) -> go.Figure:
    fig = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, colorscale=[[0, SAME], [min(0.999, threshold / max(matrix.max(), 1e-9)), "#ffffbf"], [1, DIFFERENT]],
        zmin=0, zmax=max(float(matrix.max()), threshold * 1.01), colorbar=dict(title="distance"),
        text=np.round(matrix, 2), texttemplate="%{text}", hovertemplate="%{y} ↔ %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(height=max(320, 36 * len(labels) + 120), margin=dict(l=10, r=10, t=30, b=10),
                      title=f"Pairwise distances (green: below {threshold:.2f}, judged the same person)",
                      yaxis=dict(autorange="reversed"))
    return fig


def pca_scatter(projection: Projection, labels: list[str], hover: list[str] | None = None,
                highlight: dict[int, str] | None = None) -> go.Figure:
    """Embeddings projected on their first two principal components, coloured by person."""
    fig = go.Figure()
    points = projection.points
    for name in sorted(set(labels)):
        idx = [i for i, label in enumerate(labels) if label == name]
        fig.add_trace(go.Scatter(x=points[idx, 0], y=points[idx, 1], mode="markers+text", name=name,
                                 text=[name] * len(idx), textposition="top center", marker=dict(size=12),
                                 hovertext=[hover[i] for i in idx] if hover else None))
    for i, role in (highlight or {}).items():
        fig.add_trace(go.Scatter(x=[points[i, 0]], y=[points[i, 1]], mode="markers+text", text=[role], textposition="bottom center",
                                 marker=dict(size=22, symbol="circle-open", line=dict(width=3, color="black")), showlegend=False, hoverinfo="skip"))
    ex = projection.explained
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"PCA of the 128-D descriptors (the plane keeps {100 * (ex[0] + ex[1]):.0f}% of their variance)",
                      xaxis_title=f"PC 1 ({100 * ex[0]:.0f}%)", yaxis_title=f"PC 2 ({100 * ex[1]:.0f}%)")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def distance_histograms(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> go.Figure:
    fig = go.Figure()
    bins = dict(start=0.0, end=max(1.2, float(np.max(np.concatenate([genuine, impostor, [0]]))) + 0.05), size=0.025)
    fig.add_trace(go.Histogram(x=genuine, name=f"same person ({len(genuine)} pairs)", marker_color=SAME, opacity=0.7, xbins=bins))
    fig.add_trace(go.Histogram(x=impostor, name=f"different people ({len(impostor)} pairs)", marker_color=DIFFERENT, opacity=0.7, xbins=bins))
    fig.add_vline(x=threshold, line_dash="dash", annotation_text=f"threshold {threshold:.2f}")
    fig.update_layout(barmode="overlay", height=340, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="distance",
                      yaxis_title="pairs", title="Same-person vs different-person distances", legend=dict(orientation="h", y=-0.25))
    return fig


def roc_figure(roc: Roc, at: Rates) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=roc.far, y=roc.tar, mode="lines+markers", name=f"ROC (AUC {roc.auc:.3f})", line_shape="hv",
                             customdata=roc.thresholds, hovertemplate="threshold %{customdata:.3f}<br>FAR %{x:.2%}<br>TAR %{y:.2%}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"), name="chance", hoverinfo="skip"))
    if np.isfinite(at.far) and np.isfinite(at.frr):
        fig.add_trace(go.Scatter(x=[at.far], y=[1 - at.frr], mode="markers", marker=dict(size=14, color="black", symbol="x"),
                                 name=f"threshold {at.threshold:.2f}"))
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), title="ROC: true accepts vs false accepts as the threshold sweeps",
                      xaxis=dict(title="false accept rate", range=[-0.02, 1.02]), yaxis=dict(title="true accept rate (1 − FRR)", range=[-0.02, 1.02]))
    return fig


def rates_vs_threshold(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> go.Figure:
    grid = np.linspace(0, max(1.2, float(np.max(np.concatenate([genuine, impostor, [0]]))) + 0.05), 241)
    far = [(impostor < t).mean() if len(impostor) else np.nan for t in grid]
    frr = [(genuine >= t).mean() if len(genuine) else np.nan for t in grid]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid, y=far, name="false accept rate", line=dict(color=DIFFERENT)))
    fig.add_trace(go.Scatter(x=grid, y=frr, name="false reject rate", line=dict(color=SAME)))
    fig.add_vline(x=threshold, line_dash="dash")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), title="FAR and FRR as functions of the threshold",
                      xaxis_title="threshold", yaxis=dict(title="rate", tickformat=".0%"), legend=dict(orientation="h", y=-0.3))
    return fig


def loss_pushes(projection: Projection, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray,
                report: LossReport, scale: float = 1.0) -> go.Figure:
    """Anchor, positive and negative in the gallery's PCA plane, with arrows along −gradient."""
    roles = {"anchor": anchor, "positive": positive, "negative": negative}
    colours = {"anchor": "#1f77b4", "positive": SAME, "negative": DIFFERENT}
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=projection.points[:, 0], y=projection.points[:, 1], mode="markers", marker=dict(color="lightgrey", size=8),
                             name="gallery", hoverinfo="skip"))
    for role, vector in roles.items():
        p = projection.project(vector[None])[0]
        fig.add_trace(go.Scatter(x=[p[0]], y=[p[1]], mode="markers+text", text=[role], textposition="top center",
                                 marker=dict(size=16, color=colours[role]), name=role))
    for push in report.pushes:
        if push.role not in roles or push.strength == 0:
            continue
        start = projection.project(roles[push.role][None])[0]
        # −gradient in the plane (PCA axes are orthonormal, so this is its exact projection)
        delta = -(projection.axes @ push.gradient) * scale
        fig.add_annotation(x=start[0] + delta[0], y=start[1] + delta[1], ax=start[0], ay=start[1], xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=3, arrowwidth=2.5, arrowcolor=colours[push.role])
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"{report.name}: where the loss pushes each embedding (projected, arrows × {scale:g})")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig
