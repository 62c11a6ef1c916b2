"""Generalization beyond the training distribution, ObjectNet-style: the same object, turned.

ObjectNet (Barbu et al.) photographed everyday objects at unusual rotations, viewpoints and
backgrounds, and ImageNet classifiers lost 40–45 points of accuracy on it. A photo cannot be
re-shot from another viewpoint here, but it can be turned: each rotation keeps every pixel of the
object (the square frame is rotated inside its inscribed circle, the corners filled with the
photo's mean colour, so no black wedge becomes a cue) and only its orientation changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from cvdemo.architectures.clever_hans import frame


def rotated(image: np.ndarray, angle: float) -> np.ndarray:
    """The framed square turned by ``angle`` degrees (counter-clockwise) inside its inscribed circle."""
    size = image.shape[0]
    fill = tuple(int(v) for v in image.reshape(-1, 3).mean(0).round())
    turned = Image.fromarray(image).rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=fill)
    circle = Image.new("L", (size, size), 0)
    ImageDraw.Draw(circle).ellipse([0, 0, size - 1, size - 1], fill=255)
    background = Image.new("RGB", (size, size), fill)
    return np.asarray(Image.composite(turned, background, circle))


@dataclass
class RotationSweep:
    angles: np.ndarray
    probabilities: np.ndarray  # (angles, classes)
    categories: Sequence[str]
    reference: int  # the class predicted for the upright (0°) photo

    @property
    def reference_probability(self) -> np.ndarray:
        return self.probabilities[:, self.reference]

    @property
    def top1(self) -> np.ndarray:
        return self.probabilities.argmax(1)

    @property
    def kept(self) -> float:
        """Share of the angles at which the upright prediction stays top-1."""
        return float((self.top1 == self.reference).mean())


def rotation_sweep(classifier, image: np.ndarray, step: int = 15, batch: int = 8) -> RotationSweep:
    """Class probabilities of ``classifier`` at 0°, step°, … < 360° (the photo framed square first)."""
    square = frame(image)
    angles = np.arange(0, 360, step)
    views = [rotated(square, float(angle)) for angle in angles]
    out = []
    with torch.inference_mode():
        for begin in range(0, len(views), batch):
            x = torch.cat([classifier.preprocess(view) for view in views[begin:begin + batch]])
            out.append(F.softmax(classifier.network(x).float(), 1).cpu().numpy())
    probabilities = np.concatenate(out)
    return RotationSweep(angles, probabilities, classifier.categories, int(probabilities[0].argmax()))


def sweep_figure(sweep: RotationSweep):
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.add_scatter(x=sweep.angles, y=100 * sweep.reference_probability, mode="lines+markers",
                       name=f"P({sweep.categories[sweep.reference]})", line=dict(width=3))
    top = sweep.top1
    figure.add_scatter(x=sweep.angles, y=100 * sweep.probabilities[np.arange(len(top)), top], mode="markers",
                       name="top-1 at this angle", text=[sweep.categories[i] for i in top],
                       marker=dict(size=9, color=["#2ca02c" if i == sweep.reference else "#d62728" for i in top]),
                       hovertemplate="%{x}°: %{text} %{y:.1f}%<extra></extra>")
    figure.update_layout(xaxis=dict(title="rotation (degrees)", tickvals=list(range(0, 361, 45))),
                         yaxis=dict(title="probability %", range=[0, 105]), height=360, margin=dict(l=10, r=10, t=30, b=10),
                         title=dict(text="Upright class's probability as the photo turns (green: still top-1)", y=0.98),
                         legend=dict(orientation="h", yanchor="top", y=-0.2))
    return figure
