"""Clever Hans: a classifier that learned the watermark instead of the object.

Lapuschkin et al. found that a Pascal VOC "horse" classifier relied on a copyright tag that many
horse photos carried; relevance maps showed it, and stamping the tag on a car photo made the
network see a horse. Here the same trap is built in seconds: one class of a transfer-learning
demo set gets a small tag in the corner of every training image, a linear probe is trained on a
frozen ImageNet backbone, and then

* held-out images of the *other* class with the tag stamped on are classified as the tagged class
  (the prediction flips), and
* occlusion (Zeiler & Fergus) on such an image puts its evidence on the tag, measured as the share
  of positive evidence inside the tag's box against the box's share of the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from cvdemo.architectures import transfer

FRAME = 224
TAG_TEXT = "© PHOTO"


def frame(image: np.ndarray, size: int = FRAME) -> np.ndarray:
    """Shorter side resized to ``size``, centre-cropped square: the part of the photo the network sees."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    resized = Image.fromarray(image).resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BILINEAR)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


TAG_SIZE = (0.6, 0.25)  # width and height, as fractions of the framed image's side


def tag_box(size: int = FRAME, tag: tuple[float, float] = TAG_SIZE) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the tag: bottom left, inset so the classifier's own centre crop keeps it."""
    margin = size // 9
    return margin, size - margin - round(size * tag[1]), margin + round(size * tag[0]), size - margin


def stamp(image: np.ndarray, tag: tuple[float, float] = TAG_SIZE) -> np.ndarray:
    """A copy of a framed image with the tag: white text on a black box, like a photo agency's mark."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(pil)
    x1, y1, x2, y2 = tag_box(image.shape[0], tag)
    draw.rectangle([x1, y1, x2, y2], fill=(0, 0, 0))
    # As tall as two thirds of the box, or smaller until the text ends inside it.
    size = max(8, (y2 - y1) * 2 // 3)
    while True:
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            font = ImageFont.load_default()
            break
        if size <= 8 or draw.textbbox((x1 + 4, y1 + 2), TAG_TEXT, font=font)[2] < x2 - 2:
            break
        size -= 1
    draw.text((x1 + 4, y1 + 2), TAG_TEXT, fill=(255, 255, 255), font=font)
    return np.asarray(pil)


class ProbeNetwork(nn.Module):
    """Frozen backbone features → the trained linear head, as one network to explain."""

    def __init__(self, backbone: transfer.Backbone, head: transfer.TrainedHead):
        super().__init__()
        self.features = backbone.features_net
        self.linear = head.linear
        self.register_buffer("mean", head.mean)
        self.register_buffer("std", head.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((self.features(x).flatten(1) - self.mean) / self.std)


@dataclass
class Experiment:
    classes: list[str]
    tagged_class: int
    head: transfer.TrainedHead
    train_images: list[np.ndarray]  # as trained on (tagged class stamped)
    train_labels: list[int]
    clean_accuracy: float  # held-out images as they are
    flip_rate: float  # held-out images of the other class(es), stamped: share predicted as the tagged class
    untagged_rate: float  # the same images without the tag: share predicted as the tagged class
    test_images: list[np.ndarray]
    test_labels: list[int]
    tag: tuple[float, float] = TAG_SIZE

    @property
    def other_images(self) -> list[np.ndarray]:
        return [img for img, label in zip(self.test_images, self.test_labels) if label != self.tagged_class]

    def tagged_probabilities(self, backbone: transfer.Backbone) -> tuple[np.ndarray, np.ndarray]:
        """P(tagged class) for each held-out image of the other class: (without the tag, with it)."""
        others = self.other_images
        return (self.head.predict(backbone, others)[:, self.tagged_class],
                self.head.predict(backbone, [stamp(img, self.tag) for img in others])[:, self.tagged_class])


def run(backbone: transfer.Backbone, demo: str = "objects", classes: Sequence[str] = ("cat", "coffee cup"),
        tagged: str = "cat", per_class: int = 8, seed: int = 0, epochs: int = 25,
        tag: tuple[float, float] = TAG_SIZE, progress: Callable[[int, int], object] | None = None) -> Experiment:  # object: the result is ignored
    """Train the probe with every training image of ``tagged`` stamped, then test with and without tags."""
    names, train, test = transfer.demo_set(demo, per_class, 6, seed)
    chosen = [names.index(c) for c in classes]
    relabel = {old: new for new, old in enumerate(chosen)}
    tagged_class = list(classes).index(tagged)
    train_images = [stamp(frame(img), tag) if relabel[label] == tagged_class else frame(img)
                    for img, label in train if label in relabel]
    train_labels = [relabel[label] for _, label in train if label in relabel]
    test_images = [frame(img) for img, label in test if label in relabel]
    test_labels = [relabel[label] for _, label in test if label in relabel]
    features = backbone.features(train_images, progress)
    head = transfer.train_head(features, train_labels, list(classes), epochs=epochs, lr=1e-3, weight_decay=1e-2,
                               batch_size=8, seed=seed)
    clean = head.predict(backbone, test_images).argmax(1)
    others = [img for img, label in zip(test_images, test_labels) if label != tagged_class]
    stamped = head.predict(backbone, [stamp(img, tag) for img in others]).argmax(1)
    unstamped = head.predict(backbone, others).argmax(1)
    return Experiment(list(classes), tagged_class, head, train_images, train_labels,
                      float((clean == np.array(test_labels)).mean()), float((stamped == tagged_class).mean()),
                      float((unstamped == tagged_class).mean()), test_images, test_labels, tag)


@dataclass
class Evidence:
    view: np.ndarray  # (h, w, 3) uint8: the image as the network sees it (after its resize and crop)
    heatmap: np.ndarray  # (h, w) occlusion map of the tagged class's score, signed
    tag_mask: np.ndarray  # (h, w) bool: the tag, in the network's view
    inside_share: float  # share of the positive evidence inside the tag
    area_share: float  # the tag's share of the image
    probability: float  # P(tagged class) for this image


def evidence(backbone: transfer.Backbone, experiment: Experiment, image: np.ndarray, patch: int = 48, stride: int = 16,
             progress=None) -> Evidence:
    """Occlusion map of the tagged class's score on a framed (usually stamped) image. The patch is
    about the tag's height: a patch much smaller than the tag hides too little of it to matter."""
    from cvdemo.explain.occlusion import Occlusion

    classifier = backbone.classifier
    network = ProbeNetwork(backbone, experiment.head).eval()
    inputs = classifier.preprocess(image)
    attribution = Occlusion(network).attribute(inputs, experiment.tagged_class, patch=patch, stride=stride,
                                               progress=progress)
    # Where the tag lands after the classifier's own resize and crop: push a mask of it through them.
    x1, y1, x2, y2 = tag_box(image.shape[0], experiment.tag)
    marker = np.zeros_like(image)
    marker[y1:y2 + 1, x1:x2 + 1] = 255
    channel = classifier.preprocess(marker)[0, 0].cpu().numpy()
    mask = channel > (channel.min() + channel.max()) / 2
    positive = np.clip(attribution.map, 0, None)
    view = ((inputs * classifier.std + classifier.mean)[0].permute(1, 2, 0).clamp(0, 1) * 255).round()
    probability = float(experiment.head.predict(backbone, [image])[0, experiment.tagged_class])
    return Evidence(view.byte().cpu().numpy(), attribution.map, mask, float(positive[mask].sum() / max(positive.sum(), 1e-12)),
                    float(mask.mean()), probability)
