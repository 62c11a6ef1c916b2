"""Plotly figures and drawn images for the architectures page (no Streamlit here)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from cvdemo.architectures.graph import LayerGraph, ReceptiveField

# Stops of a perceptually ordered dark-to-bright colour map (close to matplotlib's "inferno"),
# interpolated linearly: heatmaps must not depend on matplotlib being installed.
_INFERNO = np.array([
    [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164],
], dtype=np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → uint8 RGB."""
    values = np.clip(np.nan_to_num(values), 0.0, 1.0) * (len(_INFERNO) - 1)
    low = np.floor(values).astype(int).clip(0, len(_INFERNO) - 2)
    frac = (values - low)[..., None]
    return (_INFERNO[low] * (1 - frac) + _INFERNO[low + 1] * frac).round().astype(np.uint8)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.55, normalise: bool = True) -> np.ndarray:
    """``heatmap`` (any size) resized smoothly onto ``image`` and blended in colour."""
    height, width = image.shape[:2]
    values = heatmap.astype(np.float32)
    if normalise:
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    resized = np.asarray(Image.fromarray(values).resize((width, height), Image.Resampling.BILINEAR))
    coloured = colormap(resized).astype(np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + coloured * alpha
    return blended.round().clip(0, 255).astype(np.uint8)


def accuracy_vs_macs(rows: Sequence[dict], recipe: str = "original") -> go.Figure:
    """Top-1 accuracy against mult-adds, bubble area ∝ parameters (Canziani et al.'s picture)."""
    key = "top1" if recipe == "original" else "top1_best"
    points = sorted((r for r in rows if r.get(key) is not None), key=lambda r: r["macs_native"])
    sizes = [r["params"] / 1e6 for r in points]
    xs = [r["macs_native"] / 1e9 for r in points]
    # Neighbours along x alternate above and below their marker so that labels do not collide.
    positions = ["top center" if index % 2 == 0 else "bottom center" for index in range(len(points))]
    figure = go.Figure(go.Scatter(
        x=xs,
        y=[r[key] for r in points],
        mode="markers+text",
        text=[r["title"] for r in points],
        textposition=positions,
        marker=dict(size=sizes, sizemode="area", sizeref=2.0 * max(sizes, default=1) / 60**2, sizemin=5,
                    color=[r["year"] for r in points], colorscale="Viridis", showscale=True,
                    colorbar=dict(title="year"), line=dict(width=1, color="black")),
        customdata=[[r["params"] / 1e6, r["input_size"], r["depth"]] for r in points],
        hovertemplate="<b>%{text}</b><br>%{x:.3f} GMACs at %{customdata[1]}×%{customdata[1]}"
                      "<br>top-1 %{y:.1f}%<br>%{customdata[0]:.1f} M parameters<br>depth %{customdata[2]}<extra></extra>",
    ))
    span = [np.log10(min(xs, default=0.1) / 2), np.log10(max(xs, default=10) * 2)]
    figure.update_layout(
        xaxis=dict(title="G mult-adds per image (log scale; FLOPs = 2×)", type="log", range=span),
        yaxis=dict(title=f"ImageNet top-1 accuracy, % ({'original' if recipe == 'original' else 'best torchvision'} weights)"),
        height=520, margin=dict(l=10, r=10, t=30, b=10),
        title="Accuracy vs operations; bubble area ∝ parameters",
    )
    return figure


def parameter_breakdown(rows: Sequence[dict]) -> go.Figure:
    """Stacked bars of where the parameters are: dense, convolutional, normalisation, other."""
    names = [r["title"] for r in rows]
    figure = go.Figure()
    for key, label in (("dense_params", "dense (fully connected)"), ("conv_params", "convolution"),
                       ("norm_params", "normalisation"), ("other_params", "other (embeddings, scales)")):
        figure.add_bar(name=label, x=names, y=[r[key] / 1e6 for r in rows],
                       hovertemplate="%{x}: %{y:.2f} M<extra>" + label + "</extra>")
    figure.update_layout(barmode="stack", yaxis_title="parameters (millions)", height=440,
                         margin=dict(l=10, r=10, t=40, b=10), title="Where the parameters are",
                         legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.35))
    return figure


def _larger_side(pair: tuple[float, float] | None) -> float:
    if pair is None:
        raise ValueError("only a local receptive field has a size and a jump")
    return max(pair)


def receptive_field_growth(graph: LayerGraph) -> go.Figure:
    """Receptive field size and jump (stride) of every spatial layer, against depth."""
    layers = [layer for layer in graph.spatial_layers() if layer.weighted or layer.op in ("MaxPool2d", "AvgPool2d", "max_pool2d", "avg_pool2d")]
    figure = go.Figure()
    figure.add_scatter(x=list(range(len(layers))), y=[_larger_side(layer.field.size) for layer in layers], mode="lines+markers",
                       name="receptive field (px)", text=[layer.name for layer in layers],
                       hovertemplate="%{text}<br>RF %{y:g} px<extra></extra>")
    figure.add_scatter(x=list(range(len(layers))), y=[_larger_side(layer.field.jump) for layer in layers], mode="lines",
                       name="jump = total stride (px)", text=[layer.name for layer in layers],
                       hovertemplate="%{text}<br>jump %{y:g} px<extra></extra>", line=dict(dash="dot"))
    figure.add_hline(y=graph.input_size[0], line_dash="dash", annotation_text=f"input {graph.input_size[0]} px")
    figure.update_layout(xaxis_title="convolution / pooling layers, in order", yaxis_title="pixels of the input",
                         height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15))
    return figure


def draw_receptive_field(image: np.ndarray, field: ReceptiveField, row: int, col: int, grid_shape: tuple[int, int] | None = None,
                         heatmap: np.ndarray | None = None) -> np.ndarray:
    """The input pixels that unit (row, col) sees, drawn on ``image`` (already at input size).

    The part of the field outside the image (it lies in the zero padding) is shown by the box
    running off the edge; unit centres of the layer are dotted when ``grid_shape`` is given.
    """
    canvas = overlay_heatmap(image, heatmap, 0.6) if heatmap is not None else image.copy()
    height, width = image.shape[:2]
    pil = Image.fromarray(canvas)
    x1, y1, x2, y2 = field.box(row, col)
    jump, start = field.jump, field.start
    assert jump is not None and start is not None  # box() above accepted only a local field
    # Dim everything outside the field so the seen region stands out.
    outside = Image.new("L", pil.size, 150)
    ImageDraw.Draw(outside).rectangle([max(0, x1), max(0, y1), min(width - 1, x2), min(height - 1, y2)], fill=0)
    pil = Image.composite(Image.new("RGB", pil.size, (0, 0, 0)), pil, outside)
    draw = ImageDraw.Draw(pil)
    draw.rectangle([x1, y1, x2, y2], outline=(255, 220, 0), width=max(2, width // 150))
    if grid_shape is not None:
        rows, cols = grid_shape
        (jump_r, jump_c), (start_r, start_c) = jump, start
        dot = max(1, width // 250)
        for r in range(rows):
            for c in range(cols):
                cy, cx = start_r + r * jump_r, start_c + c * jump_c
                if 0 <= cx < width and 0 <= cy < height:
                    draw.ellipse([cx - dot, cy - dot, cx + dot, cy + dot], fill=(0, 200, 255))
    cy, cx = start[0] + row * jump[0], start[1] + col * jump[1]
    radius = max(3, width // 80)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=(255, 0, 0), width=2)
    return np.asarray(pil)


_PALETTE = [(255, 70, 70), (70, 200, 255), (120, 255, 120), (255, 200, 60), (200, 120, 255)]


def draw_sample(image: np.ndarray, boxes: np.ndarray, masks: np.ndarray, labels: Sequence[str] = ()) -> np.ndarray:
    """Masks as translucent colour, boxes as rectangles, as a detector's training sample looks."""
    canvas = image.astype(np.float32)
    for index, mask in enumerate(masks):
        colour = np.array(_PALETTE[index % len(_PALETTE)], dtype=np.float32)
        canvas[mask] = canvas[mask] * 0.55 + colour * 0.45
    pil = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    line = max(2, min(image.shape[:2]) // 150)
    for index, box in enumerate(boxes):
        draw.rectangle([float(v) for v in box], outline=_PALETTE[index % len(_PALETTE)], width=line)
        if index < len(labels):
            draw.text((float(box[0]) + 3, float(box[1]) + 2), labels[index], fill=_PALETTE[index % len(_PALETTE)])
    return np.asarray(pil)


def loss_curve(logs: Sequence, title: str = "") -> go.Figure:
    """Training and held-out loss (log scale) and held-out accuracy per epoch."""
    epochs = [log.epoch for log in logs]
    figure = go.Figure()
    figure.add_scatter(x=epochs, y=[max(log.train_loss, 1e-6) for log in logs], name="training loss", mode="lines+markers")
    if logs and logs[0].val_loss is not None:
        figure.add_scatter(x=epochs, y=[max(log.val_loss, 1e-6) for log in logs], name="held-out loss", mode="lines+markers")
        figure.add_scatter(x=epochs, y=[100 * log.val_accuracy for log in logs], name="held-out accuracy %",
                           mode="lines", yaxis="y2", line=dict(dash="dot"))
    figure.update_layout(
        title=dict(text=title, y=0.98), xaxis_title="epoch", height=380, margin=dict(l=10, r=10, t=40, b=10),
        yaxis=dict(title="cross-entropy (log)", type="log"),
        yaxis2=dict(title="accuracy %", overlaying="y", side="right", range=[0, 105], tickvals=[0, 25, 50, 75, 100],
                    showgrid=False),
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return figure


def probability_bars(classes: Sequence[str], probabilities: np.ndarray) -> go.Figure:
    order = np.argsort(probabilities)
    figure = go.Figure(go.Bar(x=[100 * float(probabilities[i]) for i in order], y=[classes[i] for i in order],
                              orientation="h", hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    figure.update_layout(xaxis=dict(title="probability %", range=[0, 100]), height=60 + 28 * len(classes),
                         margin=dict(l=10, r=10, t=10, b=10))
    return figure


def method_comparison(runs: Sequence[dict]) -> go.Figure:
    """Held-out accuracy per training method (rows of the transfer-learning history)."""
    names = [run["method"].split(" (")[0] for run in runs]
    accuracy = [run["held-out accuracy %"] for run in runs]
    figure = go.Figure(go.Bar(x=names, y=accuracy, text=[f"{a:.0f}%" if a is not None else "—" for a in accuracy],
                              textposition="outside", customdata=[round(run["train_seconds"], 2) for run in runs],
                              hovertemplate="%{x}: %{y:.1f}% held-out, trained in %{customdata} s<extra></extra>"))
    figure.update_layout(title=dict(text="Held-out accuracy: pre-trained features vs from scratch", y=0.98),
                         yaxis=dict(title="held-out accuracy %", range=[0, 110]), height=340, margin=dict(l=10, r=10, t=40, b=10))
    return figure
