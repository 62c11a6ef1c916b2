"""Pictures of attributions: Plotly figures for the page, PNG/.npy bytes for downloads.

Signed maps use a diverging scale centred on zero (red = evidence for the target, blue = against,
white = nothing), symmetric so that equal colours mean equal magnitudes on both sides. Magnitude
maps (|gradient|, ReLU'd Grad-CAM) use a sequential scale from zero.
"""

from __future__ import annotations

import io

import numpy as np
import plotly.graph_objects as go

from cvdemo.explain.core import Attribution

DIVERGING = [[0.0, "#2166ac"], [0.25, "#67a9cf"], [0.5, "#f7f7f7"], [0.75, "#ef8a62"], [1.0, "#b2182b"]]
SEQUENTIAL = "Inferno"
# Anchor colours (RGB) of the same scales for PNG rendering.
_DIVERGING_RGB = np.array([[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]], float)
_SEQUENTIAL_RGB = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], float)


def color_limit(values: np.ndarray, percentile: float = 99.5) -> float:
    """Half-width of the colour range: a high percentile of |value|, so one extreme pixel does not
    wash out the rest (the hover still shows exact values)."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 1.0
    limit = float(np.percentile(finite, percentile)) if percentile < 100 else float(finite.max())
    return limit if limit > 0 else float(finite.max()) or 1.0


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
        colorscale=DIVERGING if signed else SEQUENTIAL,
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


def _colorize(values: np.ndarray, signed: bool, limit: float) -> np.ndarray:
    anchors = _DIVERGING_RGB if signed else _SEQUENTIAL_RGB
    if signed:
        position = np.clip((values / limit + 1.0) / 2.0, 0.0, 1.0)
    else:
        position = np.clip(values / limit, 0.0, 1.0)
    position = np.nan_to_num(position) * (len(anchors) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(anchors) - 2)
    frac = (position - low)[..., None]
    rgb = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def overlay_rgb(image: np.ndarray, attribution: Attribution | np.ndarray, opacity: float = 0.6,
                signed: bool | None = None, percentile: float = 99.5) -> np.ndarray:
    """The image with the coloured map blended over it (PNG downloads, live video)."""
    values, signed = _map_for(image, attribution, signed)
    limit = color_limit(values, percentile)
    colours = _colorize(values, signed, limit).astype(np.float32)
    if not signed:
        # Let weak evidence show the image: opacity follows the magnitude for magnitude maps.
        alpha = opacity * np.clip(values / limit, 0, 1)[..., None]
    else:
        alpha = np.full(values.shape + (1,), float(opacity), np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + colours * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=np.float32))
    return buffer.getvalue()


def curves_figure(curves: dict[str, "object"], kind: str, height: int = 320) -> go.Figure:
    """Deletion or insertion curves of several methods (``{method: Faithfulness}``)."""
    figure = go.Figure()
    for method, result in curves.items():
        curve = getattr(result, kind)
        figure.add_trace(go.Scatter(x=curve.fractions * 100, y=curve.scores, mode="lines",
                                    name=f"{method} (AUC {curve.auc:.3f})",
                                    hovertemplate="%{x:.0f}% of pixels<br>score %{y:.3f}<extra>" + method + "</extra>"))
    verb = "deleted (most important first)" if kind == "deletion" else "inserted (most important first)"
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), title=dict(text=kind.capitalize(), x=0),
                         xaxis_title=f"% of pixels {verb}", yaxis_title="target score", legend=dict(orientation="h"))
    return figure


def randomisation_figure(table: list[dict], height: int = 320) -> go.Figure:
    """Spearman correlation with the original map as ever more top layers are randomised."""
    figure = go.Figure()
    if not table:
        return figure
    steps = [row["randomised down to"] for row in table]
    for method in [k for k in table[0] if k != "randomised down to"]:
        figure.add_trace(go.Scatter(x=steps, y=[row[method] for row in table], mode="lines+markers", name=method))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), yaxis=dict(range=[-0.2, 1.05]),
                         title=dict(text="Rank correlation with the original map", x=0),
                         xaxis_title="layers randomised (from the top down to)", yaxis_title="Spearman ρ of |map|",
                         legend=dict(orientation="h"))
    return figure
