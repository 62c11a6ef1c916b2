"""The DCGAN generator (Radford, Metz & Chintala, 2016) and the wrapper the app shares.

100-D z → 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×3: every step a 4×4 transposed
convolution, batch norm and ReLU, the last one tanh. The weights come from the MIT-licensed
``gan-face-generate`` package (trained on Microsoft's synthetic DigiFace-1M faces); we only read
its checkpoint file and never import the package, whose dependencies are heavy and unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvdemo.device import autocast
from cvdemo.gan.sampling import NZ, latents
from cvdemo.weights import PackageFile

NGF = 64  # feature maps of the last hidden stage; earlier stages have 2×, 4×, 8× as many
NC = 3  # RGB
IMAGE_SIZE = 64
KERNEL = 4

WEIGHTS = PackageFile("gan-face-generate", "gan_face_generate/weights.tar", "1.1.1",
                      "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f")
CHECKPOINT_KEY = "netG_state_dict"

ProgressCallback = Callable[[int, int], None]  # (faces done, faces in all)


class DCGANGenerator(nn.Module):
    """The 64×64 DCGAN generator as a single ``nn.Sequential`` called ``main``.

    The attribute name and the layer order follow the published checkpoint's keys
    (``main.0.weight`` … ``main.12.weight``), so its state dict loads strictly as it is: a renamed
    layer would fail loudly instead of leaving random weights behind.
    """

    def __init__(self, nz: int = NZ, ngf: int = NGF, nc: int = NC):
        super().__init__()
        self.nz = nz
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = []
        in_channels = nz
        for index, width in enumerate(widths):
            # The first layer turns the 1×1 "image" z into 4×4 (kernel 4, no padding): a dense
            # layer in convolutional clothing. The later ones double the side,
            # (H − 1)·2 − 2·1 + 4 = 2H, exactly the decoder upsampling of the segmentation lecture.
            stride, padding = (1, 0) if index == 0 else (2, 1)
            # No conv bias: batch norm's shift right after it would cancel it anyway.
            layers += [
                nn.ConvTranspose2d(in_channels, width, KERNEL, stride, padding, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        layers += [nn.ConvTranspose2d(in_channels, nc, KERNEL, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)

    def stage_slices(self) -> list[slice]:
        """Index ranges of ``main`` that end in an activation: one per resolution step."""
        slices, start = [], 0
        for index, layer in enumerate(self.main):
            if isinstance(layer, (nn.ReLU, nn.Tanh)):
                slices.append(slice(start, index + 1))
                start = index + 1
        return slices


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator's state dict from the package's ``weights.tar``.

    The file was saved from a CUDA run, so it is always mapped to the CPU first.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        keys = list(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise RuntimeError(f"{path} holds no {CHECKPOINT_KEY!r} (found {keys}); is gan-face-generate 1.1.1 installed?")
    return checkpoint[CHECKPOINT_KEY]


def load_generator(path: str | Path | None = None) -> DCGANGenerator:
    """A trained generator in eval mode on the CPU; strict loading, never random weights."""
    network = DCGANGenerator()
    network.load_state_dict(load_checkpoint(path or WEIGHTS.path()), strict=True)
    return network.eval()


@dataclass(frozen=True)
class _FoldedLayer:
    weight: torch.Tensor
    bias: torch.Tensor | None
    stride: int
    padding: int
    activation: str  # "relu" or "tanh"


class FoldedGenerator(nn.Module):
    """The same function as an eval-mode :class:`DCGANGenerator`, with batch norm folded in.

    In eval mode batch norm is a per-channel affine map, so it folds into the transposed
    convolution's weights and a bias: one pass over memory less per stage, and the activations
    stay channels-last, which oneDNN's CPU kernels prefer (`make bench` compares it with the
    unfolded network). Used for sampling; the unfolded network stays for the "inside the
    generator" views and the layer table.
    """

    def __init__(self, network: DCGANGenerator):
        super().__init__()
        layers = list(network.main)
        folded: list[_FoldedLayer] = []
        index = 0
        while index < len(layers):
            conv = layers[index]
            if not isinstance(conv, nn.ConvTranspose2d):
                raise TypeError(f"cannot fold {type(conv).__name__}: expected ConvTranspose2d at main.{index}")
            if isinstance(conv.padding, str):
                raise TypeError(f"cannot fold main.{index}: padding {conv.padding!r} is not a number")
            weight = conv.weight.detach().clone()
            bias: torch.Tensor | None = None
            following = layers[index + 1]
            if isinstance(following, nn.BatchNorm2d):
                running_mean, running_var = following.running_mean, following.running_var
                if running_mean is None or running_var is None:
                    raise TypeError(f"cannot fold main.{index + 1}: batch norm without running statistics")
                scale = following.weight.detach() / torch.sqrt(running_var + following.eps)
                # ConvTranspose2d weights are (in, out, kH, kW): the output channel is dim 1.
                weight = weight * scale.view(1, -1, 1, 1)
                bias = following.bias.detach() - running_mean * scale
                index += 1
            activation = layers[index + 1]
            folded.append(_FoldedLayer(weight, bias, conv.stride[0], conv.padding[0],
                                       "tanh" if isinstance(activation, nn.Tanh) else "relu"))
            index += 2
        self.nz = network.nz
        self._config = [(layer.stride, layer.padding, layer.activation) for layer in folded]
        for number, layer in enumerate(folded):
            # Buffers, not parameters: nothing here is trained, and .to(device) still moves them.
            self.register_buffer(f"weight{number}", layer.weight)
            self.register_buffer(f"bias{number}", layer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.reshape(z.shape[0], self.nz, 1, 1)
        for number, (stride, padding, activation) in enumerate(self._config):
            weight, bias = getattr(self, f"weight{number}"), getattr(self, f"bias{number}")
            x = F.conv_transpose2d(x.contiguous(memory_format=torch.channels_last), weight, bias, stride, padding)
            x = torch.relu_(x) if activation == "relu" else torch.tanh(x)
        return x


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) tanh outputs in [−1, 1] → (N, H, W, 3) uint8 RGB on the CPU."""
    scaled = ((images.float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return np.ascontiguousarray(scaled.permute(0, 2, 3, 1).cpu().numpy())


class FaceGenerator:
    """A trained DCGAN face generator on one device: latent vectors in, RGB faces out.

    Shared by every Streamlit session, so no method changes the wrapper or its networks.
    Latent vectors are made on the CPU (see :mod:`cvdemo.gan.sampling`) and moved here, so a seed
    means the same faces on every device.
    """

    nz = NZ
    image_size = IMAGE_SIZE
    # One batch of 64 keeps the GEMMs efficient (chunks of 16 were slower) while larger requests
    # still report progress between batches.
    batch_size = 64

    def __init__(self, network: DCGANGenerator, device: torch.device):
        self.device = device
        self.network = network.eval().to(device)
        self.fast = FoldedGenerator(self.network).eval().to(device)

    @torch.inference_mode()
    def raw(self, z: torch.Tensor) -> torch.Tensor:
        """tanh outputs (N, 3, 64, 64) in [−1, 1], float32, on the generator's device."""
        z = _as_batch(z, self.nz).to(self.device, torch.float32)
        with autocast(self.device):
            return self.fast(z).float()

    def generate(self, z: torch.Tensor, progress: ProgressCallback | None = None) -> np.ndarray:
        """Faces for latent vectors ``z`` (N, 100): (N, 64, 64, 3) uint8 RGB."""
        z = _as_batch(z, self.nz)
        chunks = []
        for start in range(0, z.shape[0], self.batch_size):
            chunks.append(to_uint8(self.raw(z[start:start + self.batch_size])))
            if progress is not None:
                progress(min(start + self.batch_size, z.shape[0]), z.shape[0])
        if not chunks:
            return np.zeros((0, self.image_size, self.image_size, NC), dtype=np.uint8)
        return np.concatenate(chunks)

    def sample(self, seed: int, n: int, temperature: float = 1.0, progress: ProgressCallback | None = None) -> np.ndarray:
        """Faces ``0 … n−1`` of ``seed`` (see :func:`cvdemo.gan.sampling.latents`)."""
        return self.generate(latents(seed, n) * temperature, progress)


def _as_batch(z: torch.Tensor, nz: int) -> torch.Tensor:
    z = torch.as_tensor(z)
    if z.dim() == 1:
        z = z[None]
    z = z.reshape(z.shape[0], -1)
    if z.shape[1] != nz:
        raise ValueError(f"latent vectors must have {nz} values, got {z.shape[1]}")
    return z
