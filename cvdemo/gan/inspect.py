"""Inside the generator: the feature maps after each stage, and a table of its layers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cvdemo.gan.generator import DCGANGenerator, FaceGenerator


@dataclass
class StageOutput:
    """The activation after one transposed-convolution stage, for one face."""

    name: str  # e.g. "stage 2: 8×8×256"
    layers: str  # e.g. "ConvTranspose2d → BatchNorm2d → ReLU"
    activation: np.ndarray  # (C, H, W) float32
    active_fraction: float  # share of values > 0 (ReLU stages); how sparse the code is

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.activation.shape)  # type: ignore[return-value]

    def strongest_channels(self, k: int) -> np.ndarray:
        """Indices of the ``k`` channels with the largest mean activation, strongest first."""
        energy = np.abs(self.activation).mean(axis=(1, 2))
        return np.argsort(-energy, kind="stable")[:k]


def stage_outputs(generator: FaceGenerator, z: torch.Tensor) -> list[StageOutput]:
    """Run one latent vector through the unfolded network stage by stage.

    The layers are called one after another instead of hooked, because the network is shared
    between sessions and hooks would be visible to every other caller.
    """
    network = generator.network
    x = torch.as_tensor(z, dtype=torch.float32).reshape(1, network.nz, 1, 1).to(generator.device)
    outputs = []
    with torch.inference_mode():
        for number, part in enumerate(network.stage_slices(), start=1):
            modules = list(network.main[part])
            for module in modules:
                x = module(x)
            activation = x[0].float().cpu().numpy()
            channels, height, width = activation.shape
            kind = "RGB image" if channels == 3 else f"{channels} channels"
            outputs.append(StageOutput(
                name=f"stage {number}: {height}×{width}, {kind}",
                layers=" → ".join(type(m).__name__ for m in modules),
                activation=activation,
                active_fraction=float((activation > 0).mean()),
            ))
    return outputs


def feature_mosaic(stage: StageOutput, channels: int = 32, tile: int = 64, columns: int = 8, gap: int = 2) -> np.ndarray:
    """The strongest ``channels`` maps of a stage as a grey mosaic, each scaled to ``tile`` px.

    Each map is normalised on its own (0 → black, its maximum → white), so weak but structured
    channels stay visible; nearest-neighbour enlargement keeps the 4×4 maps honest about their
    resolution. The last stage's three maps are the R, G and B planes of the face.
    """
    order = stage.strongest_channels(channels)
    maps = stage.activation[order]
    count = len(order)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    mosaic = np.full((rows * (tile + gap) - gap, columns * (tile + gap) - gap), 255, dtype=np.uint8)
    for index, fmap in enumerate(maps):
        low, high = float(fmap.min()), float(fmap.max())
        scaled = (fmap - low) / (high - low) if high > low else np.zeros_like(fmap)
        repeat = max(1, tile // fmap.shape[0])
        big = np.kron(scaled, np.ones((repeat, repeat)))[:tile, :tile]
        row, column = divmod(index, columns)
        top, left = row * (tile + gap), column * (tile + gap)
        mosaic[top:top + big.shape[0], left:left + big.shape[1]] = np.rint(big * 255).astype(np.uint8)
    return mosaic


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.ConvTranspose2d):
        return (f"{module.in_channels}→{module.out_channels}, kernel {module.kernel_size[0]}, "
                f"stride {module.stride[0]}, padding {module.padding[0]}")
    if isinstance(module, nn.BatchNorm2d):
        return f"{module.num_features} channels (eval: per-channel scale and shift)"
    if isinstance(module, nn.ReLU):
        return "max(0, x)"
    if isinstance(module, nn.Tanh):
        return "squashes to [−1, 1] = pixel range"
    return ""


def layer_table(network: DCGANGenerator) -> list[dict]:
    """One row per layer: type, settings, output shape, learned parameters, and multiply-adds.

    Shapes come from a real forward pass of one zero vector on the CPU (a copy, so the shared
    network is untouched), so the table cannot disagree with the code.
    """
    last_conv = network.main[-2]
    if not isinstance(last_conv, nn.ConvTranspose2d):
        raise TypeError(f"expected ConvTranspose2d at main.{len(network.main) - 2}, got {type(last_conv).__name__}")
    copy = DCGANGenerator(network.nz, last_conv.in_channels, last_conv.out_channels).eval()
    copy.load_state_dict({k: v.detach().cpu() for k, v in network.state_dict().items()})
    x = torch.zeros(1, copy.nz, 1, 1)
    rows = [{"layer": "input z", "type": "", "settings": f"{copy.nz} numbers ~ N(0, 1)",
             "output shape": f"{copy.nz}×1×1", "parameters": 0, "multiply-adds": 0}]
    with torch.inference_mode():
        for index, module in enumerate(copy.main):
            in_shape = tuple(x.shape[1:])
            x = module(x)
            channels, height, width = x.shape[1:]
            params = sum(p.numel() for p in module.parameters())
            if isinstance(module, nn.ConvTranspose2d):
                # Every input pixel scatters a k×k×C_out patch: in_H·in_W·C_in·C_out·k².
                macs = in_shape[1] * in_shape[2] * module.in_channels * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            else:
                macs = 0
            rows.append({"layer": f"main.{index}", "type": type(module).__name__, "settings": _describe(module),
                         "output shape": f"{channels}×{height}×{width}", "parameters": params, "multiply-adds": macs})
    return rows


def totals(rows: list[dict]) -> dict:
    return {"parameters": sum(r["parameters"] for r in rows), "multiply-adds": sum(r["multiply-adds"] for r in rows)}
