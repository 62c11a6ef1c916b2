"""Data augmentation with torchvision's transforms v2, boxes and masks included.

Every augmentation is applied to one sample — the image, its boxes (``tv_tensors.BoundingBoxes``)
and per-object masks (``tv_tensors.Mask``) together — so geometric changes move all three
consistently and photometric ones leave boxes and masks alone. After each transform boxes are
clamped to the image and degenerate ones dropped (``ClampBoundingBoxes``,
``SanitizeBoundingBoxes``), as a detection training pipeline would.

Randomness comes from torch's global generator, seeded per call under a lock, so a seed shown
on the page reproduces the same picture whatever other sessions do meanwhile.

The weather effects are simple image models, not learned ones: fog is the atmospheric
scattering model ``I·t + A·(1 − t)`` with transmission falling towards the top of the frame;
rain and snow are sparse drops smeared along a direction; night is a gamma curve, a blue cast
and sensor noise.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

_rng_lock = threading.Lock()


# --- weather and sensor effects ------------------------------------------------------------------


class _ImageOnly(v2.Transform):
    """Photometric effect on float images in [0, 1]; boxes and masks pass through."""

    _transformed_types = (tv_tensors.Image,)

    def transform(self, inpt, params):
        out = self.apply(inpt.as_subclass(torch.Tensor), params).clamp_(0.0, 1.0)
        return tv_tensors.wrap(out, like=inpt)

    def apply(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        raise NotImplementedError


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high))


def _smooth_noise(height: int, width: int, generator: torch.Generator, cells: int = 6) -> torch.Tensor:
    """Low-frequency noise in [0, 1]: a coarse random grid upsampled bicubically."""
    coarse = torch.rand(1, 1, cells, max(2, round(cells * width / max(height, 1))), generator=generator)
    fine = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return fine[0, 0].clamp(0, 1)


def _line_kernel(length: int, angle_deg: float) -> torch.Tensor:
    """A normalised (1, 1, k, k) kernel drawing a line of ``length`` pixels at ``angle``."""
    length = max(3, int(length) | 1)
    kernel = torch.zeros(length, length)
    centre = length // 2
    theta = math.radians(angle_deg)
    for t in torch.linspace(-centre, centre, 4 * length):
        row = int(round(centre + float(t) * math.cos(theta)))
        col = int(round(centre + float(t) * math.sin(theta)))
        kernel[row, col] = 1.0
    return (kernel / kernel.sum()).view(1, 1, length, length)


class Fog(_ImageOnly):
    """Haze: ``I·t + A·(1 − t)``, transmission ``t = exp(−β·d)`` with a depth proxy ``d``
    growing towards the top of the frame (the horizon) and patchy low-frequency density."""

    def __init__(self, strength: float = 0.5):
        super().__init__()
        self.strength = strength

    def make_params(self, flat_inputs):
        return {"beta": _uniform(0.6, 1.2) * (0.5 + 2.5 * self.strength), "airlight": _uniform(0.75, 0.95),
                "seed": int(torch.randint(0, 2**31 - 1, (1,)))}

    def apply(self, image, params):
        _, height, width = image.shape
        patches = _smooth_noise(height, width, torch.Generator().manual_seed(params["seed"]))
        rows = torch.linspace(1.0, 0.2, height).view(height, 1).expand(height, width)
        depth = rows * (0.7 + 0.6 * patches)
        transmission = torch.exp(-params["beta"] * depth)
        return image * transmission + params["airlight"] * (1 - transmission)


class Rain(_ImageOnly):
    """Streaks: sparse drops smeared by a line kernel, brightened, over a dimmer, flatter scene."""

    def __init__(self, strength: float = 0.5):
        super().__init__()
        self.strength = strength

    def make_params(self, flat_inputs):
        return {"density": 0.0004 + 0.003 * self.strength, "angle": _uniform(-20, 20),
                "length": _uniform(0.04, 0.08), "seed": int(torch.randint(0, 2**31 - 1, (1,)))}

    def apply(self, image, params):
        _, height, width = image.shape
        generator = torch.Generator().manual_seed(params["seed"])
        count = int(params["density"] * height * width)
        length = max(3, int(params["length"] * max(height, width)))
        streaks = _draw_streaks(height, width, count, length, params["angle"], generator)
        dim = 0.85 - 0.15 * self.strength  # overcast: less light, less contrast
        scene = (image - image.mean()) * dim + image.mean() * dim
        streaks = streaks * 0.7  # drops are translucent
        return scene * (1 - streaks) + 0.9 * streaks


def _draw_streaks(height: int, width: int, count: int, length: int, angle_deg: float,
                  generator: torch.Generator) -> torch.Tensor:
    """(H, W) map in [0, 1] of ``count`` straight streaks (drawn point by point: a convolution
    with a long line kernel would cost seconds on a large photo)."""
    theta = math.radians(angle_deg)
    rows0 = torch.randint(-length, height, (count, 1), generator=generator).float()
    cols0 = torch.randint(-length, width + length, (count, 1), generator=generator).float()
    steps = torch.arange(length, dtype=torch.float32).view(1, -1)
    rows = (rows0 + steps * math.cos(theta)).round().long().flatten()
    cols = (cols0 + steps * math.sin(theta)).round().long().flatten()
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    canvas = torch.zeros(height * width)
    canvas.index_put_((rows[inside] * width + cols[inside],), torch.ones(int(inside.sum())), accumulate=True)
    canvas = canvas.view(1, 1, height, width).clamp(0, 1)
    # A 3×3 blur softens the one-pixel lines like a slightly out-of-focus drop.
    return F.avg_pool2d(canvas, 3, stride=1, padding=1, count_include_pad=False)[0, 0].mul(1.6).clamp(0, 1)


class Snow(_ImageOnly):
    """Flakes of varying size, slightly smeared by the wind, over a brighter, greyer scene."""

    def __init__(self, strength: float = 0.5):
        super().__init__()
        self.strength = strength

    def make_params(self, flat_inputs):
        return {"density": 0.002 + 0.01 * self.strength, "angle": _uniform(-45, 45), "seed": int(torch.randint(0, 2**31 - 1, (1,)))}

    def apply(self, image, params):
        _, height, width = image.shape
        generator = torch.Generator().manual_seed(params["seed"])
        flakes = (torch.rand(1, 1, height, width, generator=generator) < params["density"]).float()
        size = max(3, int(0.006 * max(height, width)) | 1)
        flakes = F.max_pool2d(flakes, size, stride=1, padding=size // 2)
        kernel = _line_kernel(2 * size + 1, params["angle"])
        flakes = F.conv2d(flakes, kernel, padding=kernel.shape[-1] // 2)[0, 0, :height, :width].clamp(0, 1)
        grey = image.mean(0, keepdim=True)
        scene = image * (1 - 0.3 * self.strength) + grey * 0.3 * self.strength + 0.1 * self.strength
        return scene * (1 - flakes) + flakes


class Night(_ImageOnly):
    """Low light: a gamma curve crushes the shadows, a blue cast, lower contrast, sensor noise."""

    def __init__(self, strength: float = 0.5):
        super().__init__()
        self.strength = strength

    def make_params(self, flat_inputs):
        return {"gamma": 1.5 + 2.0 * self.strength * _uniform(0.8, 1.2), "gain": 0.55 - 0.35 * self.strength,
                "noise": 0.01 + 0.04 * self.strength, "seed": int(torch.randint(0, 2**31 - 1, (1,)))}

    def apply(self, image, params):
        generator = torch.Generator().manual_seed(params["seed"])
        dark = image.clamp(0, 1) ** params["gamma"] * params["gain"]
        tint = torch.tensor([0.8, 0.9, 1.15]).view(3, 1, 1)
        noise = torch.randn(image.shape, generator=generator) * params["noise"]
        return dark * tint + noise


class MotionBlur(_ImageOnly):
    """Camera shake: the image smeared along a random direction."""

    def __init__(self, strength: float = 0.5):
        super().__init__()
        self.strength = strength

    def make_params(self, flat_inputs):
        return {"angle": _uniform(0, 180), "fraction": 0.01 + 0.05 * self.strength}

    def apply(self, image, params):
        _, height, width = image.shape
        kernel = _line_kernel(params["fraction"] * max(height, width), params["angle"])
        padded = F.pad(image.unsqueeze(1), [kernel.shape[-1] // 2] * 4, mode="replicate")
        return F.conv2d(padded, kernel)[:, 0, :height, :width]


class _OnUint8(v2.Transform):
    """Runs a transform that needs uint8 images (JPEG) on our float pipeline."""

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, inner: v2.Transform):
        super().__init__()
        self.inner = inner

    def transform(self, inpt, params):
        as_uint8 = tv_tensors.Image((inpt.as_subclass(torch.Tensor) * 255).round().clamp(0, 255).to(torch.uint8))
        out = self.inner(as_uint8).as_subclass(torch.Tensor).float() / 255
        return tv_tensors.wrap(out, like=inpt)


# --- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augmentation:
    name: str
    group: str
    description: str
    build: Callable[[float, tuple[int, int]], v2.Transform] = field(repr=False)
    geometric: bool = False  # moves pixels (and so boxes and masks)
    supports_boxes: bool = True  # torchvision can transform boxes for it


def _a(name, group, description, build, geometric=False, supports_boxes=True) -> Augmentation:
    return Augmentation(name, group, description, build, geometric, supports_boxes)


GEOMETRY, COLOUR, NOISE, WEATHER, POLICY = "geometry", "colour", "noise & occlusion", "weather & light", "learned policies"

AUGMENTATIONS: dict[str, Augmentation] = {a.name: a for a in (
    _a("horizontal flip", GEOMETRY, "Mirror left–right: the cheapest augmentation, used by AlexNet already.",
       lambda s, size: v2.RandomHorizontalFlip(p=1.0), True),
    _a("random resized crop", GEOMETRY, "A random part (scale and aspect) resized back: the standard ImageNet training crop.",
       lambda s, size: v2.RandomResizedCrop(size, scale=(max(0.08, 1 - 0.9 * s), 1.0), antialias=True), True),
    _a("rotation", GEOMETRY, "Rotate by up to ±45°·strength; boxes become the box around the rotated box.",
       lambda s, size: v2.RandomRotation(degrees=max(1.0, 45 * s)), True),
    _a("affine", GEOMETRY, "Shift, scale, rotate and shear in one affine warp.",
       lambda s, size: v2.RandomAffine(degrees=15 * s, translate=(0.2 * s, 0.2 * s), scale=(1 - 0.3 * s, 1 + 0.3 * s), shear=10 * s), True),
    _a("perspective", GEOMETRY, "A random homography, as if seen from another viewpoint.",
       lambda s, size: v2.RandomPerspective(distortion_scale=max(0.05, 0.7 * s), p=1.0), True),
    _a("elastic", GEOMETRY, "Smooth random displacement field (as for handwriting); boxes follow their corners.",
       lambda s, size: v2.ElasticTransform(alpha=50.0 + 250.0 * s, sigma=5.0 + 5.0 * s), True),
    _a("zoom out", GEOMETRY, "Place the image on a larger canvas (SSD's trick for small objects).",
       lambda s, size: v2.RandomZoomOut(fill={tv_tensors.Image: 0.5, "others": 0}, side_range=(1.0, 1.0 + 3 * s), p=1.0), True),
    _a("IoU crop", GEOMETRY, "SSD's crop that keeps a minimum overlap with the objects.",
       lambda s, size: v2.RandomIoUCrop(), True),
    _a("colour jitter", COLOUR, "Random brightness, contrast, saturation and hue.",
       lambda s, size: v2.ColorJitter(brightness=0.6 * s, contrast=0.6 * s, saturation=0.8 * s, hue=0.15 * s)),
    _a("grayscale", COLOUR, "Drop colour: the network must use shape and texture.",
       lambda s, size: v2.RandomGrayscale(p=1.0)),
    _a("photometric distort", COLOUR, "SSD's photometric distortions (contrast, saturation, hue, brightness, channel swap).",
       lambda s, size: v2.RandomPhotometricDistort(p=1.0)),
    _a("solarize", COLOUR, "Invert every pixel above a threshold.",
       lambda s, size: v2.RandomSolarize(threshold=1.0 - 0.6 * s, p=1.0)),
    _a("equalize", COLOUR, "Histogram equalisation.",
       lambda s, size: v2.RandomEqualize(p=1.0)),
    _a("Gaussian noise", NOISE, "Additive sensor noise (σ up to 0.2).",
       lambda s, size: v2.GaussianNoise(sigma=0.2 * s)),
    _a("Gaussian blur", NOISE, "Defocus.",
       lambda s, size: v2.GaussianBlur(kernel_size=2 * int(1 + 10 * s) + 1, sigma=(0.1, 0.1 + 4 * s))),
    _a("motion blur", NOISE, "Camera shake along a random direction.", lambda s, size: MotionBlur(s)),
    _a("random erasing", NOISE, "Cut out a random rectangle (occlusion); boxes and masks stay, the object is partly hidden.",
       lambda s, size: v2.RandomErasing(p=1.0, scale=(0.02, 0.05 + 0.3 * s), value=0.5)),
    _a("JPEG artefacts", NOISE, "Re-encode at low quality.",
       lambda s, size: _OnUint8(v2.JPEG(quality=(max(1, int(60 - 55 * s)), max(2, int(80 - 55 * s)))))),
    _a("fog", WEATHER, "Haze thickening towards the horizon (atmospheric scattering model).", lambda s, size: Fog(s)),
    _a("rain", WEATHER, "Rain streaks over a dimmer, flatter scene.", lambda s, size: Rain(s)),
    _a("snow", WEATHER, "Snowflakes over a brighter, greyer scene.", lambda s, size: Snow(s)),
    _a("night", WEATHER, "Low light: darker, bluish, noisy.", lambda s, size: Night(s)),
    _a("AutoAugment (ImageNet)", POLICY, "The policy learned on ImageNet by Cubuk et al.; torchvision applies it to images only.",
       lambda s, size: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET), supports_boxes=False),
    _a("RandAugment", POLICY, "Two random operations at a common magnitude.",
       lambda s, size: v2.RandAugment(num_ops=2, magnitude=int(1 + 20 * s)), supports_boxes=False),
    _a("TrivialAugmentWide", POLICY, "One random operation at a random magnitude.",
       lambda s, size: v2.TrivialAugmentWide(), supports_boxes=False),
    _a("AugMix", POLICY, "A mix of several augmentation chains.",
       lambda s, size: v2.AugMix(severity=int(1 + 9 * s)), supports_boxes=False),
)}

GROUPS = (GEOMETRY, COLOUR, NOISE, WEATHER, POLICY)


def by_group() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    for augmentation in AUGMENTATIONS.values():
        groups[augmentation.group].append(augmentation.name)
    return groups


# --- samples -------------------------------------------------------------------------------------


@dataclass
class Sample:
    """An image with its objects: boxes ``x1, y1, x2, y2`` in pixels and one mask per box."""

    image: np.ndarray  # H×W×3 uint8
    boxes: np.ndarray  # (N, 4) float32
    masks: np.ndarray  # (N, H, W) bool
    labels: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


def default_box(height: int, width: int) -> tuple[float, float, float, float]:
    """The central box covering half of each side: where an object usually is in a photo."""
    return (width * 0.25, height * 0.25, width * 0.75, height * 0.75)


def ellipse_mask(height: int, width: int, box) -> np.ndarray:
    """The ellipse inscribed in ``box``: a stand-in object mask when no segmenter gave one."""
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = (x1 + x2) / 2 - 0.5, (y1 + y2) / 2 - 0.5
    rx, ry = max((x2 - x1) / 2, 1), max((y2 - y1) / 2, 1)
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def make_sample(image: np.ndarray, boxes=None, masks=None, labels=None) -> Sample:
    """A sample from a photo; without boxes, the central box; without masks, inscribed ellipses."""
    height, width = image.shape[:2]
    if boxes is None or len(boxes) == 0:
        boxes = [default_box(height, width)]
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    if masks is None:
        masks = np.stack([ellipse_mask(height, width, box) for box in boxes])
    masks = np.asarray(masks, dtype=bool).reshape(len(boxes), height, width)
    labels = list(labels) if labels is not None else ["object"] * len(boxes)
    return Sample(np.ascontiguousarray(image), boxes, masks, labels)


def build(name: str, strength: float, size: tuple[int, int]) -> v2.Transform:
    if name not in AUGMENTATIONS:
        raise KeyError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}")
    return AUGMENTATIONS[name].build(float(np.clip(strength, 0.0, 1.0)), size)


def apply(sample: Sample, transform: v2.Transform | str, seed: int, strength: float = 0.5,
          with_boxes: bool = True) -> Sample:
    """``transform`` (or an augmentation's name) applied to the whole sample with ``seed``."""
    if isinstance(transform, str):
        with_boxes = with_boxes and AUGMENTATIONS[transform].supports_boxes
        transform = build(transform, strength, sample.size)
    height, width = sample.size
    image = tv_tensors.Image(torch.tensor(sample.image).permute(2, 0, 1).float().div(255))
    inputs = {"image": image, "labels": torch.arange(len(sample.boxes))}
    if with_boxes:
        inputs["boxes"] = tv_tensors.BoundingBoxes(torch.tensor(sample.boxes), format="XYXY", canvas_size=(height, width))
        inputs["masks"] = tv_tensors.Mask(torch.tensor(sample.masks))
    steps = [transform]
    if with_boxes:
        steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=2.0)]
    pipeline = v2.Compose(steps)
    with _rng_lock, torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # RandomErasing warns that it passes boxes and masks through: that is what occlusion means.
        warnings.filterwarnings("ignore", message=".*passing through inputs of type.*")
        torch.manual_seed(int(seed))
        out = pipeline(inputs)
    result = (out["image"].as_subclass(torch.Tensor).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    if not with_boxes:
        return Sample(np.ascontiguousarray(result), np.zeros((0, 4), np.float32),
                      np.zeros((0, *result.shape[:2]), bool), [])
    kept = out["labels"].tolist()
    return Sample(
        np.ascontiguousarray(result),
        out["boxes"].as_subclass(torch.Tensor).numpy().astype(np.float32).reshape(-1, 4),
        out["masks"].as_subclass(torch.Tensor).numpy().astype(bool).reshape(len(kept), *result.shape[:2]),
        [sample.labels[i] for i in kept],
    )


def training_pipeline(size: int = 224, strength: float = 0.5) -> v2.Transform:
    """A typical classification training augmentation: crop, flip, colour, sometimes weather."""
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(max(0.08, 1 - 0.8 * strength), 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.4 * strength, contrast=0.4 * strength, saturation=0.4 * strength, hue=0.05 * strength),
        v2.RandomApply([v2.RandomChoice([Fog(strength), Rain(strength), Night(strength), MotionBlur(strength)])], p=0.3 * strength),
    ])


def augment_images(images: list[np.ndarray], copies: int, seed: int, size: int = 224, strength: float = 0.5) -> list[np.ndarray]:
    """``copies`` augmented versions of every image (for training with few examples)."""
    pipeline = training_pipeline(size, strength)
    out = []
    for index, image in enumerate(images):
        for copy in range(copies):
            sample = apply(Sample(image, np.zeros((0, 4), np.float32), np.zeros((0, *image.shape[:2]), bool)),
                           pipeline, seed=seed * 100_003 + index * 101 + copy, with_boxes=False)
            out.append(sample.image)
    return out
