"""Plotly figures for the GAN page; built here so they can be tested without Streamlit."""

from __future__ import annotations

import base64
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from cvdemo.gan.explore import SweepRow
from cvdemo.gan.sampling import tile_origin
from cvdemo.images import encode_png

SELECT_COLOUR = "#ff4b4b"


def grid_figure(grid: np.ndarray, n: int, columns: int, tile: int = 64, padding: int = 2,
                selected: int | None = None, height: int | None = None) -> go.Figure:
    """The face grid as one picture with an invisible clickable point on every face.

    The picture travels as a PNG data URI (a few hundred kB) rather than as a 530×530×3 number
    array in JSON; a transparent marker per tile catches the click, and ``hoverdistance=-1``
    makes a click anywhere pick the nearest tile centre.
    """
    figure = go.Figure()
    figure.add_trace(go.Image(source="data:image/png;base64," + base64.b64encode(encode_png(grid)).decode(),
                              hoverinfo="skip"))
    centres = [tile_origin(i, columns, (tile, tile), padding) for i in range(n)]
    figure.add_trace(go.Scatter(
        x=[left + tile / 2 for _, left in centres], y=[top + tile / 2 for top, _ in centres],
        mode="markers", marker=dict(size=max(8, tile // 2), opacity=0.0, symbol="square"),
        customdata=list(range(n)), hovertemplate="face %{customdata}<extra>click to enlarge</extra>",
        showlegend=False,
    ))
    if selected is not None and 0 <= selected < n:
        top, left = centres[selected]
        figure.add_shape(type="rect", x0=left - 1.5, y0=top - 1.5, x1=left + tile + 0.5, y1=top + tile + 0.5,
                         line=dict(color=SELECT_COLOUR, width=3))
    figure.update_xaxes(visible=False, range=[0, grid.shape[1]])
    figure.update_yaxes(visible=False, range=[grid.shape[0], 0], scaleanchor="x")
    figure.update_layout(margin=dict(l=0, r=0, t=0, b=0), hovermode="closest", hoverdistance=-1,
                         dragmode=False, height=height or int(np.clip(1.8 * grid.shape[0], 160, 620)),
                         clickmode="event+select")
    return figure


def norms_figure(t: np.ndarray, norms: dict[str, np.ndarray], radius: float) -> go.Figure:
    """‖z‖ along interpolation paths against the radius where Gaussian samples live."""
    figure = go.Figure()
    for name, values in norms.items():
        figure.add_trace(go.Scatter(x=t, y=values, mode="lines+markers", name=name))
    figure.add_hline(y=radius, line_dash="dot", annotation_text=f"√{int(round(radius**2))} = {radius:.1f}: typical ‖z‖",
                     annotation_position="bottom right")
    figure.update_layout(xaxis_title="position t along the path", yaxis_title="‖z‖", height=300,
                         margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15))
    return figure


def sweep_figure(rows: Sequence[SweepRow], setting_name: str) -> go.Figure:
    """Diversity against the setting, with the artefact and face-detector measures on a second axis."""
    x = [row.setting for row in rows]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=x, y=[row.diversity for row in rows], mode="lines+markers",
                                name="pixel diversity (mean pairwise RMS)"))
    figure.add_trace(go.Scatter(x=x, y=[row.clipped for row in rows], mode="lines+markers", yaxis="y2",
                                name="clipped pixels (fraction at 0 or 255)"))
    if all(row.detection_rate is not None for row in rows):
        figure.add_trace(go.Scatter(x=x, y=[row.detection_rate for row in rows], mode="lines+markers", yaxis="y2",
                                    name="MTCNN finds a face (fraction)", line=dict(dash="dash")))
    figure.update_layout(
        xaxis_title=setting_name, yaxis=dict(title="diversity", rangemode="tozero"),
        yaxis2=dict(title="fraction", overlaying="y", side="right", range=[0, 1.02]),
        height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=1.22),
    )
    return figure


def distance_heatmap(distances: np.ndarray, labels: Sequence[str], threshold: float) -> go.Figure:
    figure = go.Figure(go.Heatmap(
        z=distances, x=list(labels), y=list(labels), colorscale="Viridis", zmin=0,
        colorbar=dict(title="distance"),
        hovertemplate="%{y} ↔ %{x}: %{z:.3f}<extra></extra>",
    ))
    figure.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10),
                         title=f"descriptor distances (dlib calls < {threshold:.2f} the same person)")
    figure.update_yaxes(autorange="reversed")
    return figure


def latent_vs_identity(latent_distances: np.ndarray, identity_distances: np.ndarray, threshold: float) -> go.Figure:
    """Does closeness in z mean closeness in identity? One point per pair of faces."""
    upper = np.triu_indices(len(latent_distances), k=1)
    figure = go.Figure(go.Scatter(x=latent_distances[upper], y=identity_distances[upper], mode="markers",
                                  marker=dict(size=6, opacity=0.6), name="pairs"))
    figure.add_hline(y=threshold, line_dash="dot", annotation_text="same-person threshold")
    figure.update_layout(xaxis_title="‖z_i − z_j‖ (latent)", yaxis_title="descriptor distance (identity)",
                         height=340, margin=dict(l=10, r=10, t=30, b=10))
    return figure


def stage_activity_figure(names: Sequence[str], active: Sequence[float]) -> go.Figure:
    """Share of positive activations per stage: how sparse the ReLU code is."""
    figure = go.Figure(go.Bar(x=list(names), y=[100 * a for a in active],
                              text=[f"{100 * a:.0f}%" for a in active], textposition="outside"))
    figure.update_layout(yaxis_title="% of values > 0", yaxis_range=[0, 100], height=280,
                         margin=dict(l=10, r=10, t=20, b=10))
    return figure

