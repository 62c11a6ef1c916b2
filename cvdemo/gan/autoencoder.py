"""An autoencoder trained live: encoder → a 2-D code → decoder, on the app's own shape images.

The lectures put autoencoders just before GANs: a decoder turns a small code into an image, as
the DCGAN generator turns z into a face, but it is trained to *reconstruct* its input (mean
squared error), not to fool a discriminator. With a 2-D code the whole code space can be drawn:
every training image is a point, and decoding a grid of points shows what the decoder learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvdemo.architectures.residuals import IMAGE_SIZE, SHAPES, shapes_dataset

CODE_SIZE = 2


class AutoEncoder(nn.Module):
    """12×12 → conv stride 2 (6×6) → conv stride 2 (3×3) → dense → 2 numbers → mirror image."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * width * 9, CODE_SIZE))
        self.decoder = nn.Sequential(
            nn.Linear(CODE_SIZE, 2 * width * 9), nn.ReLU(), nn.Unflatten(1, (2 * width, 3, 3)),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),  # 3 → 6
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1))  # 6 → 12

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@dataclass
class AutoEncoderRun:
    model: AutoEncoder
    images: torch.Tensor  # the clean training images (targets)
    labels: torch.Tensor
    losses: list[float] = field(default_factory=list)  # training MSE per epoch
    mean_image_loss: float = float("nan")  # MSE of always answering the mean training image

    def codes(self) -> np.ndarray:
        with torch.no_grad():
            return self.model.encoder(self.images).numpy()

    def reconstructions(self, count: int) -> np.ndarray:
        with torch.no_grad():
            return self.model(self.images[:count])[:, 0].numpy()

    def decode_grid(self, steps: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xs, ys, images (steps, steps, H, W)) decoded on a grid spanning the codes' range."""
        codes = self.codes()
        low, high = codes.min(0), codes.max(0)
        xs, ys = np.linspace(low[0], high[0], steps), np.linspace(high[1], low[1], steps)
        grid = torch.tensor([[x, y] for y in ys for x in xs], dtype=torch.float32)
        with torch.no_grad():
            images = self.model.decoder(grid)[:, 0].numpy()
        return xs, ys, images.reshape(steps, steps, IMAGE_SIZE, IMAGE_SIZE)


def train(count: int = 256, epochs: int = 20, seed: int = 0, lr: float = 3e-3, batch_size: int = 32,
          progress: Callable[[int, int], object] | None = None) -> AutoEncoderRun:  # object: the result is ignored
    """Noise-free shapes (each image its own target); Adam, mean squared error."""
    images, labels = shapes_dataset(count, seed, noise=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoEncoder()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    order_generator = torch.Generator().manual_seed(seed)
    run = AutoEncoderRun(model, images, labels, mean_image_loss=float(((images - images.mean(0)) ** 2).mean()))
    for epoch in range(epochs):
        order = torch.randperm(count, generator=order_generator)
        for begin in range(0, count, batch_size):
            batch = images[order[begin:begin + batch_size]]
            loss = F.mse_loss(model(batch), batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            run.losses.append(float(F.mse_loss(model(images), images)))
        if progress:
            progress(epoch + 1, epochs)
    return run


def code_figure(run: AutoEncoderRun):
    """Every training image's 2-D code, coloured by its shape."""
    import plotly.graph_objects as go

    codes, labels = run.codes(), run.labels.numpy()
    figure = go.Figure()
    for index, shape in enumerate(SHAPES):
        chosen = labels == index
        figure.add_scatter(x=codes[chosen, 0], y=codes[chosen, 1], mode="markers", name=shape, marker=dict(size=6))
    figure.update_layout(title=dict(text="The 2-D code of every training image", y=0.98), xaxis_title="code 1",
                         yaxis_title="code 2", height=420, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", yanchor="top", y=-0.15))
    return figure


def tile(images: np.ndarray, scale: int = 6) -> np.ndarray:
    """(rows, cols, H, W) values → one uint8 picture, each image upscaled and framed by a grey line."""
    rows, cols, height, width = images.shape
    picture = np.full((rows * (height * scale + 1) + 1, cols * (width * scale + 1) + 1), 128, np.uint8)
    for r in range(rows):
        for c in range(cols):
            block = np.kron(np.clip(images[r, c], 0, 1), np.ones((scale, scale)))
            top, left = 1 + r * (height * scale + 1), 1 + c * (width * scale + 1)
            picture[top:top + height * scale, left:left + width * scale] = (255 * block).round().astype(np.uint8)
    return picture
