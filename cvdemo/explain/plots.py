"""Pictures of attributions: Plotly figures for the page, PNG/.npy bytes for downloads.

Colours follow the app's one language (:mod:`cvdemo.colormaps`): signed maps diverge around a
white zero (red = evidence for the target, blue = against), magnitude maps are sequential from a
black (over a photo: see-through) zero.
"""

from __future__ import annotations

import io

import numpy as np
import plotly.graph_objects as go

from cvdemo.colormaps import color_limit, overlay, plotly_overlay_scale
from cvdemo.explain.core import Attribution


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a map to ``shape`` (e.g. a 64×64 emotion map over a larger face)."""
    if values.shape == tuple(shape):
        return values
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def _map_for(image: np.ndarray, attribution: Attribution | np.ndarray, signed: bool | None) -> tuple[np.ndarray, bool]:
    """The map at the image's size, and whether to show it with a sign (a bare array: if it has negatives)."""
    values = attribution.map if isinstance(attribution, Attribution) else np.asarray(attribution)
    if signed is None:
        signed = attribution.signed if isinstance(attribution, Attribution) else bool((values < 0).any())
    return resize_map(values, image.shape[:2]), signed


def heatmap_figure(image: np.ndarray, attribution: Attribution | np.ndarray, *, opacity: float = 0.6,
                   signed: bool | None = None, title: str = "", height: int = 420, percentile: float = 99.5,
                   value_name: str = "attribution") -> go.Figure:
    """The image with the map over it; hovering shows each pixel's value."""
    values, signed = _map_for(image, attribution, signed)
    limit = color_limit(values, percentile)
    figure = go.Figure()
    figure.add_trace(go.Image(z=image, hoverinfo="skip", name="image"))
    figure.add_trace(go.Heatmap(
        z=values, opacity=float(opacity), zsmooth=False,
        colorscale=plotly_overlay_scale(signed),
        zmid=0.0 if signed else None, zmin=-limit if signed else 0.0, zmax=limit,
        colorbar=dict(title=dict(text=value_name, side="right"), thickness=12, len=0.9),
        hovertemplate="x %{x}, y %{y}<br>" + value_name + " %{z:.4g}<extra></extra>",
        name=value_name,
    ))
    figure.update_layout(title=dict(text=title, x=0.0, font=dict(size=14)), height=height,
                         margin=dict(l=0, r=0, t=30 if title else 0, b=0))
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return figure


def overlay_rgb(image: np.ndarray, attribution: Attribution | np.ndarray, opacity: float = 0.6,
                signed: bool | None = None, percentile: float = 99.5) -> np.ndarray:
    """The image with the coloured map blended over it (PNG downloads, live video)."""
    values, signed = _map_for(image, attribution, signed)
    return overlay(image, values, signed, opacity, color_limit(values, percentile))


def npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=np.float32))
    return buffer.getvalue()


# Legends of line charts sit under the x-axis title, in a band of their own, never over the curves.
LEGEND_HEIGHT = 90
BELOW_THE_AXES = dict(orientation="h", x=0.0, xanchor="left", y=-0.3, yanchor="top")


def curves_figure(curves: dict[str, "object"], kind: str, height: int = 320) -> go.Figure:
    """Deletion or insertion curves of several methods (``{method: Faithfulness}``)."""
    figure = go.Figure()
    for method, result in curves.items():
        curve = getattr(result, kind)
        figure.add_trace(go.Scatter(x=curve.fractions * 100, y=curve.scores, mode="lines",
                                    name=f"{method} (AUC {curve.auc:.3f})",
                                    hovertemplate="%{x:.0f}% of pixels<br>score %{y:.3f}<extra>" + method + "</extra>"))
    verb = "deleted (most important first)" if kind == "deletion" else "inserted (most important first)"
    figure.update_layout(height=height + LEGEND_HEIGHT, margin=dict(l=10, r=10, t=30, b=LEGEND_HEIGHT),
                         title=dict(text=kind.capitalize(), x=0), xaxis_title=f"% of pixels {verb}",
                         yaxis_title="target score", legend=BELOW_THE_AXES)
    return figure


def randomisation_figure(table: list[dict], titles: dict[str, str], height: int = 320) -> go.Figure:
    """Spearman correlation with the original map as ever more top layers are randomised;
    ``titles`` names each method's column as the page does."""
    figure = go.Figure()
    if not table:
        return figure
    steps = [row["randomised down to"] for row in table]
    for method in [k for k in table[0] if k != "randomised down to"]:
        figure.add_trace(go.Scatter(x=steps, y=[row[method] for row in table], mode="lines+markers",
                                    name=titles.get(method, method)))
    figure.update_layout(height=height + LEGEND_HEIGHT, margin=dict(l=10, r=10, t=30, b=LEGEND_HEIGHT),
                         yaxis=dict(range=[-0.2, 1.05]),
                         title=dict(text="Rank correlation with the original map", x=0),
                         xaxis_title="layers randomised (from the top down to)", yaxis_title="Spearman ρ of |map|",
                         legend=BELOW_THE_AXES)
    return figure
