"""Why residuals: plain and residual networks of growing depth, trained for seconds.

He et al.'s observation, reproduced small: on the same data, with the same optimiser and the
same number of steps, a deeper *plain* stack of 3×3 convolutions reaches a **higher training
loss** than a shallower one, although it could copy the shallow net and set its extra layers to
the identity. Adding an identity shortcut around every pair of convolutions (a residual block)
removes the degradation. The per-layer gradient norms show why the plain stack is stuck: the
gradient that reaches its first layers is orders of magnitude smaller than at its last ones.

The data are tiny images the app draws itself (a bar, a cross, a square outline... on noise), so
nothing is downloaded and a whole depth sweep trains in seconds on a CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SHAPES = ("horizontal bar", "vertical bar", "diagonal", "cross", "square outline")
IMAGE_SIZE = 12


def _draw(shape: str, rng: np.random.Generator, size: int) -> np.ndarray:
    image = np.zeros((size, size), np.float32)
    length = int(rng.integers(size // 2, size - 1))
    top, left = (int(v) for v in rng.integers(0, size - length + 1, 2))
    middle_row, middle_col = int(rng.integers(1, size - 1)), int(rng.integers(1, size - 1))
    steps = np.arange(length)
    if shape == "horizontal bar":
        image[middle_row, left:left + length] = 1
    elif shape == "vertical bar":
        image[top:top + length, middle_col] = 1
    elif shape == "diagonal":
        image[top + steps, left + (steps if rng.random() < 0.5 else steps[::-1])] = 1
    elif shape == "cross":
        arm = length // 2
        row, col = (int(v) for v in rng.integers(arm, size - arm, 2))
        image[row, col - arm:col + arm + 1] = 1
        image[row - arm:row + arm + 1, col] = 1
    else:
        image[top, left:left + length] = image[top + length - 1, left:left + length] = 1
        image[top:top + length, left] = image[top:top + length, left + length - 1] = 1
    return image


def shapes_dataset(count: int, seed: int = 0, noise: float = 0.3, size: int = IMAGE_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (count, 1, size, size), labels): one shape per image, random place and length, Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES), count)
    images = np.stack([_draw(SHAPES[label], rng, size) for label in labels])
    images += rng.normal(0, noise, images.shape).astype(np.float32)
    return torch.from_numpy(images[:, None]), torch.from_numpy(labels.astype(np.int64))


class DepthNet(nn.Module):
    """``depth`` weighted layers: a 3×3 stem, ``depth − 2`` 3×3 convolutions, global average pooling
    and a dense classifier. With ``residual``, every pair of body convolutions is a residual block
    x + conv(relu(conv(x))) (ReLU after the sum, as in He et al.); otherwise a plain stack. All
    layers start from PyTorch's default initialisation, except as ``identity_start`` says."""

    def __init__(self, depth: int, residual: bool, width: int = 16, classes: int = len(SHAPES),
                 identity_start: bool = True):
        super().__init__()
        if depth < 4 or depth % 2:
            raise ValueError("depth must be even and at least 4 (stem + pairs of convolutions + classifier)")
        self.depth, self.residual = depth, residual
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        convs = [nn.Conv2d(width, width, 3, padding=1) for _ in range(depth - 2)]  # typed, unlike the ModuleList's items
        self.body = nn.ModuleList(convs)
        self.head = nn.Linear(width, classes)
        if residual and identity_start:
            # The lectures' "solution by construction": each block starts as the identity (its
            # second convolution at zero), so a deep residual net starts as a shallow one.
            for second in convs[1::2]:
                nn.init.zeros_(second.weight)
                if second.bias is not None:  # always, with Conv2d's default bias=True
                    nn.init.zeros_(second.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        for first, second in zip(self.body[0::2], self.body[1::2]):
            out = second(F.relu(first(x)))
            x = F.relu(x + out if self.residual else out)
        return self.head(x.mean((2, 3)))

    def weighted_layers(self) -> list[nn.Conv2d | nn.Linear]:
        """Input to output."""
        body = cast(list[nn.Conv2d], list(self.body))  # a ModuleList's items are typed as plain Modules
        return [self.stem, *body, self.head]


def gradient_norms(net: DepthNet, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """‖∂L/∂W‖ of every weighted layer, input to output, for one batch (cross-entropy loss)."""
    net.zero_grad()
    F.cross_entropy(net(images), labels).backward()
    grads = [layer.weight.grad for layer in net.weighted_layers()]
    norms = np.array([float(grad.norm()) if grad is not None else 0.0 for grad in grads])  # None: no gradient reached it
    net.zero_grad()
    return norms


@dataclass
class Run:
    depth: int
    residual: bool
    losses: list[float] = field(default_factory=list)  # training loss before training and after each epoch
    train_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    initial_gradients: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per layer, before training
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{'residual' if self.residual else 'plain'}-{self.depth}"

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


def _evaluate(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits = net(images)
        return float(F.cross_entropy(logits, labels)), float((logits.argmax(1) == labels).float().mean())


def train(depth: int, residual: bool, train_set, test_set, *, epochs: int = 8, lr: float = 0.01,
          batch_size: int = 32, seed: int = 0, width: int = 12, identity_start: bool = True,
          on_epoch: Callable[[Run], None] | None = None) -> Run:
    """Adam from PyTorch's default initialisation, the same seed (weights and batch order) for every net."""
    images, labels = train_set
    with torch.random.fork_rng(devices=[]):  # seeded without touching anyone else's random state
        torch.manual_seed(seed)
        net = DepthNet(depth, residual, width, identity_start=identity_start)
    run = Run(depth, residual, initial_gradients=gradient_norms(net, images[:256], labels[:256]))
    run.losses.append(_evaluate(net, images, labels)[0])
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    order_generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=order_generator)
        for begin in range(0, len(labels), batch_size):
            index = order[begin:begin + batch_size]
            loss = F.cross_entropy(net(images[index]), labels[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        train_loss, run.train_accuracy = _evaluate(net, images, labels)
        run.losses.append(train_loss if np.isfinite(train_loss) else float("inf"))
        if on_epoch:
            on_epoch(run)
    run.seconds = time.perf_counter() - started
    _, run.test_accuracy = _evaluate(net, *test_set)
    return run


def sweep(depths: tuple[int, ...], *, train_size: int = 384, test_size: int = 256, epochs: int = 8, seed: int = 0,
          width: int = 12, lr: float = 0.01, noise: float = 0.3, identity_start: bool = True,
          progress: Callable[[int, int, str], None] | None = None) -> list[Run]:
    """Plain (and residual) nets of every depth on one data set, each from the same seed."""
    train_set = shapes_dataset(train_size, seed, noise)
    test_set = shapes_dataset(test_size, seed + 10_000, noise)
    jobs = [(depth, residual) for residual in (False, True) for depth in depths]
    runs = []
    for index, (depth, residual) in enumerate(jobs):
        if progress:
            progress(index, len(jobs), f"{'residual' if residual else 'plain'}-{depth}")
        runs.append(train(depth, residual, train_set, test_set, epochs=epochs, seed=seed, width=width, lr=lr,
                          identity_start=identity_start))
    if progress:
        progress(len(jobs), len(jobs), "")
    return runs


# --- figures -------------------------------------------------------------------------------------

PLAIN_COLOUR, RESIDUAL_COLOUR = "#d62728", "#1f77b4"


def degradation_figure(runs: list[Run]):
    """Final training loss against depth, plain vs residual (the lectures' "deeper is worse")."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for residual, colour in ((False, PLAIN_COLOUR), (True, RESIDUAL_COLOUR)):
        chosen = sorted((r for r in runs if r.residual == residual), key=lambda r: r.depth)
        figure.add_scatter(x=[r.depth for r in chosen], y=[r.final_loss for r in chosen], mode="lines+markers",
                           name="residual" if residual else "plain", line=dict(color=colour, width=3),
                           hovertemplate="%{x} layers: training loss %{y:.3f}<extra></extra>")
    figure.add_hline(y=float(np.log(len(SHAPES))), line=dict(dash="dot", color="grey"),
                     annotation_text=f"chance: ln {len(SHAPES)} = {np.log(len(SHAPES)):.3f}", annotation_position="top left")
    figure.update_layout(title=dict(text="Training loss after the same training, by depth", y=0.98),
                         xaxis_title="weighted layers", yaxis_title="training cross-entropy", height=360,
                         margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", yanchor="top", y=-0.2))
    return figure


def curves_figure(runs: list[Run]):
    """Training loss per epoch, plain dashed and residual solid (the lectures' CIFAR-10 plots)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    depths = sorted({r.depth for r in runs})
    for run in sorted(runs, key=lambda r: (r.residual, r.depth)):
        shade = 0.35 + 0.65 * depths.index(run.depth) / max(len(depths) - 1, 1)
        colour = f"rgba(31,119,180,{shade:.2f})" if run.residual else f"rgba(214,39,40,{shade:.2f})"
        figure.add_scatter(x=list(range(len(run.losses))), y=run.losses, mode="lines", name=run.name,
                           line=dict(color=colour, dash="solid" if run.residual else "dash", width=2.5))
    figure.update_layout(title=dict(text="Training loss per epoch (plain dashed, darker = deeper)", y=0.98),
                         xaxis_title="epoch", yaxis_title="training cross-entropy", height=360,
                         margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", yanchor="top", y=-0.2))
    return figure


def gradients_figure(runs: list[Run]):
    """‖∂L/∂W‖ per layer at initialisation, log scale: vanishing towards the input of a plain stack."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for run in sorted(runs, key=lambda r: (r.residual, r.depth)):
        # A block that starts as the identity passes no gradient to its first convolution: a gap, not log(0).
        norms = np.where(run.initial_gradients > 0, run.initial_gradients, np.nan)
        figure.add_scatter(x=list(range(1, len(norms) + 1)), y=norms, mode="lines+markers", connectgaps=True,
                           name=run.name, line=dict(color=RESIDUAL_COLOUR if run.residual else PLAIN_COLOUR,
                                                    dash="solid" if run.residual else "dash"),
                           hovertemplate=f"{run.name}, layer %{{x}}: %{{y:.2e}}<extra></extra>")
    figure.update_layout(title=dict(text="Gradient norm per layer before training (layer 1 = input side; gaps: no gradient yet)", y=0.98),
                         xaxis_title="layer", yaxis=dict(title="‖∂L/∂W‖ (log)", type="log", exponentformat="power"),
                         height=380, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", yanchor="top", y=-0.2))
    return figure
