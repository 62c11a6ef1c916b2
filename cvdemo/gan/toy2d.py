"""The adversarial game in two dimensions: a tiny GAN trained live on points in the plane.

Real data are points from a few Gaussian blobs ("modes") on a ring. The generator G maps noise z
to a point; the discriminator D maps a point to the probability that it is real. They train in
turns: D to tell real points from G's (binary cross-entropy), G to make D call its points real
(the non-saturating loss −log D(G(z)) of Goodfellow et al., or the original minimax
log(1 − D(G(z))), which gives G almost no gradient while D wins). In the plane everything can be
seen at once: D's decision surface, where G puts its points, and **mode collapse** — G covering
only some of the modes, or hopping from one to the next, because nothing in its loss rewards
variety, only fooling D where D is currently weak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RADIUS = 2.0
SPREAD = 0.05  # standard deviation of each blob
NOISE_DIM = 2
GRID_EXTENT = 3.0  # the decision surface is drawn on [−3, 3]²


def mode_centres(modes: int) -> np.ndarray:
    angles = 2 * np.pi * np.arange(modes) / modes
    return RADIUS * np.stack([np.cos(angles), np.sin(angles)], 1)


def real_points(count: int, modes: int, generator: torch.Generator) -> torch.Tensor:
    centres = torch.as_tensor(mode_centres(modes), dtype=torch.float32)
    which = torch.randint(0, modes, (count,), generator=generator)
    return centres[which] + SPREAD * torch.randn(count, 2, generator=generator)


def _mlp(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, outputs))


@dataclass
class Snapshot:
    step: int
    fake: np.ndarray  # (n, 2) generated points
    surface: np.ndarray  # (g, g) D(x) on the grid, rows = y from −extent to +extent
    modes_covered: int
    quality: float  # share of generated points within 3σ of some mode


@dataclass
class GanRun:
    modes: int
    snapshots: list[Snapshot] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    real: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def coverage(points: np.ndarray, modes: int, min_share: float = 0.02) -> tuple[int, float]:
    """(modes holding at least ``min_share`` of the points within 3σ, share of points within 3σ of any mode)."""
    centres = mode_centres(modes)
    distances = np.linalg.norm(np.asarray(points)[:, None, :] - centres[None], axis=2)
    nearest = distances.argmin(1)
    close = distances.min(1) < 3 * SPREAD
    counts = np.bincount(nearest[close], minlength=modes)
    return int((counts >= min_share * len(points)).sum()), float(close.mean())


def grid(resolution: int) -> torch.Tensor:
    axis = torch.linspace(-GRID_EXTENT, GRID_EXTENT, resolution)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], 1)


def train(modes: int = 8, steps: int = 1000, *, loss: str = "non-saturating", d_steps: int = 1, g_steps: int = 1,
          lr: float = 5e-3,
          hidden: int = 64, batch: int = 256, seed: int = 0, snapshots: int = 10, resolution: int = 60,
          progress: Callable[[int, int], object] | None = None) -> GanRun:  # object: the result is ignored
    """Alternate ``d_steps`` discriminator steps and ``g_steps`` generator steps, ``steps`` times (Adam, β₁ = 0.5)."""
    if loss not in ("non-saturating", "minimax"):
        raise ValueError("loss must be 'non-saturating' or 'minimax'")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator_net, discriminator = _mlp(NOISE_DIM, 2, hidden), _mlp(2, 1, hidden)
    rng = torch.Generator().manual_seed(seed)
    g_opt = torch.optim.Adam(generator_net.parameters(), lr=lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    fixed_noise = torch.randn(1000, NOISE_DIM, generator=rng)
    surface_points = grid(resolution)
    run = GanRun(modes, real=real_points(1000, modes, rng).numpy())
    every = max(1, steps // snapshots)
    for step in range(1, steps + 1):
        for _ in range(d_steps):
            real = real_points(batch, modes, rng)
            with torch.no_grad():
                fake = generator_net(torch.randn(batch, NOISE_DIM, generator=rng))
            logits = discriminator(torch.cat([real, fake]))
            target = torch.cat([torch.ones(batch, 1), torch.zeros(batch, 1)])
            d_loss = F.binary_cross_entropy_with_logits(logits, target)
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
        g_loss = torch.tensor(float("nan"))  # g_steps = 0: D alone against a fixed G
        for _ in range(g_steps):
            fake_logits = discriminator(generator_net(torch.randn(batch, NOISE_DIM, generator=rng)))
            if loss == "non-saturating":  # −log D(G(z))
                g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            else:  # log(1 − D(G(z))), minimised
                g_loss = -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
        run.d_loss.append(float(d_loss.detach()))
        run.g_loss.append(float(g_loss.detach()))
        if step % every == 0 or step == steps:
            with torch.no_grad():
                fake = generator_net(fixed_noise).numpy()
                surface = torch.sigmoid(discriminator(surface_points)).reshape(resolution, resolution).numpy()
            covered, quality = coverage(fake, modes)
            run.snapshots.append(Snapshot(step, fake, surface, covered, quality))
            if progress:
                progress(step, steps)
    return run


def snapshot_figure(run: GanRun, snapshot: Snapshot):
    """D's probability of "real" as a heatmap, real points in white, generated points in red."""
    import plotly.graph_objects as go

    axis = np.linspace(-GRID_EXTENT, GRID_EXTENT, snapshot.surface.shape[0])
    figure = go.Figure(go.Heatmap(x=axis, y=axis, z=snapshot.surface, zmin=0, zmax=1, colorscale="RdBu",
                                  colorbar=dict(title="D(x)"), hovertemplate="D(%{x:.2f}, %{y:.2f}) = %{z:.2f}<extra></extra>"))
    figure.add_contour(x=axis, y=axis, z=snapshot.surface, contours=dict(start=0.5, end=0.5, coloring="lines"),
                       line=dict(color="black", width=2), showscale=False, hoverinfo="skip", name="D = 0.5")
    figure.add_scatter(x=run.real[:, 0], y=run.real[:, 1], mode="markers", name="real data",
                       marker=dict(color="white", size=4, line=dict(color="black", width=0.5)))
    figure.add_scatter(x=snapshot.fake[:, 0], y=snapshot.fake[:, 1], mode="markers", name="generated G(z)",
                       marker=dict(color="#ff7f0e", size=4))
    figure.update_layout(title=dict(text=f"Step {snapshot.step}: {snapshot.modes_covered} of {run.modes} modes covered, "
                                         f"{snapshot.quality:.0%} of points on a mode", y=0.98),
                         xaxis=dict(range=[-GRID_EXTENT, GRID_EXTENT], constrain="domain"),
                         yaxis=dict(range=[-GRID_EXTENT, GRID_EXTENT], scaleanchor="x"),
                         height=520, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", yanchor="top", y=-0.05))
    return figure


def history_figure(run: GanRun):
    """Losses per step (smoothed) and modes covered per snapshot."""
    import plotly.graph_objects as go

    window = max(1, len(run.d_loss) // 100)
    kernel = np.ones(window) / window
    steps = np.arange(1, len(run.d_loss) + 1)[window - 1:]
    figure = go.Figure()
    figure.add_scatter(x=steps, y=np.convolve(run.d_loss, kernel, "valid"), name="D loss", mode="lines")
    figure.add_scatter(x=steps, y=np.convolve(run.g_loss, kernel, "valid"), name="G loss", mode="lines")
    figure.add_scatter(x=[s.step for s in run.snapshots], y=[s.modes_covered for s in run.snapshots], name="modes covered",
                       mode="lines+markers", yaxis="y2", line=dict(dash="dot", color="black"))
    figure.add_hline(y=float(np.log(2)), line=dict(dash="dot", color="grey"),
                     annotation_text="D(x) = ½ everywhere: both losses ln 2", annotation_position="bottom right")
    figure.update_layout(xaxis_title="step", yaxis_title="loss", height=320, margin=dict(l=10, r=10, t=30, b=10),
                         yaxis2=dict(title="modes covered", overlaying="y", side="right", range=[0, run.modes + 0.5], dtick=1,
                                     showgrid=False),
                         legend=dict(orientation="h", yanchor="top", y=-0.2))
    return figure
