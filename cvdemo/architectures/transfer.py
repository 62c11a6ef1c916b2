"""Transfer learning in seconds: a frozen ImageNet backbone, a small trainable head.

The backbone is any registered ImageNet classifier that is ready offline (MobileNetV2 ships in a
pip package). Its penultimate features (the globally pooled vector that feeds its final dense
layer) are computed once per image; a linear head on them trains in well under a second on a
CPU. The alternative, fine-tuning, also trains the backbone's last block: its *input*
activations are cached, so each epoch only runs that block, not the whole network.

Both views share the original network's weights (torch.fx sub-graphs, never hooks on the shared
model); the block that is fine-tuned is a private copy.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from cvdemo.architectures.graph import trace

ProgressFn = Callable[[int, int], object]  # object: the result is ignored (a UI lambda returns its bar)


# --- demo data sets from photos that ship with scikit-image --------------------------------------


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    from cvdemo.images import load_image

    if name.startswith("stereo_motorcycle"):
        left, right, _ = data.stereo_motorcycle()
        return load_image(left if name.endswith("left") else right)
    return load_image(np.asarray(getattr(data, name)()))


@dataclass(frozen=True)
class DemoSet:
    name: str
    description: str
    train_photos: dict[str, tuple[str, ...]]  # class -> scikit-image photos (or photo regions)
    test_photos: dict[str, tuple[str, ...]]


DEMO_SETS = {
    "objects": DemoSet(
        "objects",
        "Five photos shipped with scikit-image — cat (Chelsea), coffee cup, astronaut, rocket, motorcycle — "
        "cut into random crops. Held-out crops are other crops of the same photos (the motorcycle's come from "
        "the other camera of the stereo pair), so this is easy: it shows the mechanics.",
        {"cat": ("chelsea",), "coffee cup": ("coffee",), "astronaut": ("astronaut",), "rocket": ("rocket",),
         "motorcycle": ("stereo_motorcycle_left",)},
        {"cat": ("chelsea",), "coffee cup": ("coffee",), "astronaut": ("astronaut",), "rocket": ("rocket",),
         "motorcycle": ("stereo_motorcycle_right",)},
    ),
    "textures": DemoSet(
        "textures",
        "Three grey-level texture photos — brick, grass, gravel. Training crops come from the top half of each "
        "photo and held-out crops from the bottom half, so no held-out pixel was ever seen in training.",
        {"brick": ("brick:top",), "grass": ("grass:top",), "gravel": ("gravel:top",)},
        {"brick": ("brick:bottom",), "grass": ("grass:bottom",), "gravel": ("gravel:bottom",)},
    ),
}


def _region(spec: str) -> np.ndarray:
    name, _, part = spec.partition(":")
    image = _skimage(name)
    if part == "top":
        return image[: image.shape[0] // 2]
    if part == "bottom":
        return image[image.shape[0] // 2:]
    return image


def random_crops(image: np.ndarray, count: int, rng: np.random.Generator, min_fraction: float = 0.35) -> list[np.ndarray]:
    """Square-ish random crops covering ``min_fraction``–90% of the shorter side, randomly mirrored."""
    height, width = image.shape[:2]
    crops = []
    for _ in range(count):
        side = int(min(height, width) * rng.uniform(min_fraction, 0.9))
        aspect = rng.uniform(0.8, 1.25)
        h = min(height, max(16, int(side / np.sqrt(aspect))))
        w = min(width, max(16, int(side * np.sqrt(aspect))))
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        crop = image[top:top + h, left:left + w]
        crops.append(np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop))
    return crops


def demo_set(name: str, train_per_class: int = 8, test_per_class: int = 6, seed: int = 0
             ) -> tuple[list[str], list[tuple[np.ndarray, int]], list[tuple[np.ndarray, int]]]:
    """(classes, train, held-out) with (image, class index) pairs."""
    spec = DEMO_SETS[name]
    classes = list(spec.train_photos)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, cls in enumerate(classes):
        for photo in spec.train_photos[cls]:
            train += [(crop, label) for crop in random_crops(_region(photo), train_per_class, rng)]
        for photo in spec.test_photos[cls]:
            test += [(crop, label) for crop in random_crops(_region(photo), test_per_class, rng)]
    return classes, train, test


# --- backbone: frozen features and the fine-tuning split -----------------------------------------


def _last_linear(gm: fx.GraphModule) -> tuple[fx.Node, nn.Linear]:
    output = next(n for n in gm.graph.nodes if n.op == "output")
    node = output.args[0]
    node = node[0] if isinstance(node, (tuple, list)) else node
    if isinstance(node, fx.Node) and node.op == "call_module":
        linear = gm.get_submodule(str(node.target))  # a call_module target is the module's qualified name
        if isinstance(linear, nn.Linear):
            return node, linear
    raise TypeError("the backbone does not end in a dense layer")


def _cut_points(gm: fx.GraphModule, until: fx.Node) -> list[fx.Node]:
    """Nodes through which everything flows: no edge jumps over them (block boundaries)."""
    nodes = [n for n in gm.graph.nodes if n.op not in ("get_attr", "output")]
    position = {n: i for i, n in enumerate(nodes)}
    furthest = [0] * len(nodes)
    for node in nodes:
        for user in node.users:
            if user in position:
                furthest[position[node]] = max(furthest[position[node]], position[user])
    cuts, reach = [], 0
    for i, node in enumerate(nodes):
        if reach <= i and node.op != "placeholder":
            cuts.append(node)
        reach = max(reach, furthest[i])
        if node is until:
            break
    return cuts


def _block(name: str) -> str:
    return ".".join(name.split(".")[:2])


class _Subgraph(nn.Module):
    """Part of a traced network from ``start`` (exclusive, its value is the input) to ``end``."""

    def __init__(self, gm: fx.GraphModule, start: fx.Node, end: fx.Node):
        super().__init__()
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {start: graph.placeholder("x")}
        started = False
        for node in gm.graph.nodes:
            if node is start:
                started = True
                continue
            if not started or node.op in ("placeholder", "output"):
                continue
            env[node] = graph.node_copy(node, lambda n: env[n])
            if node is end:
                break
        graph.output(env[end])
        self.module = fx.GraphModule(gm, graph)
        self.module.graph.eliminate_dead_code()
        self.module.recompile()

    def forward(self, x):
        return self.module(x)


class Backbone:
    """Frozen features of an ImageNet classifier wrapper (``.network``, ``.preprocess``, ``.device``)."""

    def __init__(self, classifier, name: str = ""):
        self.classifier = classifier
        self.name = name
        self.device = classifier.device
        gm, names = trace(classifier.network)
        self._gm, self._names = gm, names
        head, linear = _last_linear(gm)
        feature_node = head.args[0]
        if not isinstance(feature_node, fx.Node):
            raise TypeError("the backbone's dense layer is not fed by one traced value")
        self.feature_node = feature_node
        self.feature_dim = linear.in_features
        self.features_net = _Subgraph(gm, next(n for n in gm.graph.nodes if n.op == "placeholder"), self.feature_node).eval()
        cuts = _cut_points(gm, self.feature_node)
        convs = [n for n in gm.graph.nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target), nn.Conv2d)]
        position = {n: i for i, n in enumerate(gm.graph.nodes)}
        # Block boundaries before the last convolution, latest first.
        boundaries = [c for c in cuts if c.users and position[c] < position[convs[-1]]
                      and _block(names[c]) != _block(names[next(iter(c.users))])] if convs else []
        self.boundaries = boundaries[::-1]

    def block_names(self, blocks: int) -> list[str]:
        """Names of the modules with weights in the last ``blocks`` blocks (what fine-tuning trains,
        besides the new head)."""
        if not self.boundaries:
            return []
        cut = self.boundaries[min(blocks, len(self.boundaries)) - 1]
        started, found = False, []
        for node in self._gm.graph.nodes:
            if node is cut:
                started = True
                continue
            if started and node.op == "call_module" and any(True for _ in self._gm.get_submodule(node.target).parameters()):
                block = _block(self._names[node])
                if block not in found:
                    found.append(block)
            if node is self.feature_node:
                break
        return found

    def _batches(self, images: Sequence[np.ndarray], batch: int):
        for start in range(0, len(images), batch):
            chunk = images[start:start + batch]
            yield start + len(chunk), torch.cat([self.classifier.preprocess(img) for img in chunk])

    def features(self, images: Sequence[np.ndarray], progress: ProgressFn | None = None, batch: int = 16) -> torch.Tensor:
        """(N, D) pooled features, on the CPU."""
        out = []
        with torch.inference_mode():
            for done, x in self._batches(images, batch):
                out.append(self.features_net(x).flatten(1).float().cpu())
                if progress:
                    progress(done, len(images))
        return torch.cat(out) if out else torch.zeros(0, self.feature_dim)

    def split(self, blocks: int = 1) -> tuple[nn.Module, nn.Module]:
        """(frozen part up to the last ``blocks`` blocks, trainable copy of those blocks)."""
        if not self.boundaries:
            raise TypeError("no block boundary found to fine-tune from")
        cut = self.boundaries[min(blocks, len(self.boundaries)) - 1]
        placeholder = next(n for n in self._gm.graph.nodes if n.op == "placeholder")
        frozen = _Subgraph(self._gm, placeholder, cut).eval()
        trainable = copy.deepcopy(_Subgraph(self._gm, cut, self.feature_node)).cpu().float()
        return frozen, trainable

    def block_inputs(self, frozen: nn.Module, images: Sequence[np.ndarray], progress: ProgressFn | None = None,
                     batch: int = 16) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for done, x in self._batches(images, batch):
                out.append(frozen(x).float().cpu())
                if progress:
                    progress(done, len(images))
        return torch.cat(out)


# --- training ------------------------------------------------------------------------------------


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float  # training time so far (arithmetic only)


@dataclass
class TrainedHead:
    """A trained head over backbone features (and, when fine-tuned, over the last block)."""

    classes: list[str]
    linear: nn.Linear
    mean: torch.Tensor
    std: torch.Tensor
    block: nn.Module | None = None  # fine-tuned copy of the backbone's last block(s), or a from-scratch body
    frozen: nn.Module | None = None  # the backbone part before it (from scratch: a downsampling)
    logs: list[EpochLog] = field(default_factory=list)
    train_seconds: float = 0.0
    feature_seconds: float = 0.0  # fine-tuning: computing the frozen part's activations

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)

    def predict(self, backbone: Backbone, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, classes) probabilities."""
        with torch.inference_mode():
            if self.block is None:
                features = backbone.features(images)
            else:
                assert self.frozen is not None  # a trained block always comes with the part before it
                inputs = backbone.block_inputs(self.frozen, images)
                features = self.block(inputs).flatten(1)
            return F.softmax(self.logits_from_features(features), dim=1).numpy()

    @property
    def final(self) -> EpochLog | None:
        return self.logs[-1] if self.logs else None


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean()) if len(labels) else float("nan")


def train_head(train_features: torch.Tensor, train_labels: Sequence[int], classes: list[str], *,
               val_features: torch.Tensor | None = None, val_labels: Sequence[int] | None = None,
               epochs: int = 40, lr: float = 1e-2, weight_decay: float = 1e-3, batch_size: int = 32,
               seed: int = 0, on_epoch: Callable[[EpochLog], None] | None = None) -> TrainedHead:
    """Logistic regression on standardised features (AdamW, mini-batches, cross-entropy)."""
    return _train(train_features, train_labels, classes, None, val_features, val_labels, epochs, lr, weight_decay,
                  batch_size, seed, on_epoch)


def fine_tune(backbone: Backbone, train_images: Sequence[np.ndarray], train_labels: Sequence[int], classes: list[str], *,
              val_images: Sequence[np.ndarray] | None = None, val_labels: Sequence[int] | None = None, blocks: int = 1,
              epochs: int = 15, lr: float = 3e-3, block_lr: float = 3e-4, weight_decay: float = 1e-3,
              batch_size: int = 16, seed: int = 0, on_epoch: Callable[[EpochLog], None] | None = None,
              progress: ProgressFn | None = None) -> TrainedHead:
    """Train the last ``blocks`` blocks (smaller learning rate) together with a new linear head.

    Batch-norm statistics stay frozen (the block runs in eval mode): with a few dozen images,
    batch statistics would be noise.
    """
    frozen, block = backbone.split(blocks)
    started = time.perf_counter()
    train_inputs = backbone.block_inputs(frozen, train_images, progress)
    val_inputs = backbone.block_inputs(frozen, val_images) if val_images else None
    feature_seconds = time.perf_counter() - started
    head = _train(train_inputs, train_labels, classes, block, val_inputs, val_labels, epochs, lr, weight_decay,
                  batch_size, seed, on_epoch, block_lr=block_lr)
    head.frozen = frozen
    head.feature_seconds = feature_seconds
    return head


def small_cnn(width: int = 16) -> nn.Module:
    """Four stride-2 3×3 convolutions and global average pooling: the from-scratch baseline's body."""
    layers: list[nn.Module] = []
    channels = 3
    for out in (width, 2 * width, 4 * width, 8 * width):
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.ReLU()]
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))


def train_from_scratch(backbone: Backbone, train_images: Sequence[np.ndarray], train_labels: Sequence[int],
                       classes: list[str], *, val_images: Sequence[np.ndarray] | None = None,
                       val_labels: Sequence[int] | None = None, size: int = 64, epochs: int = 30, lr: float = 3e-3,
                       weight_decay: float = 1e-3, batch_size: int = 16, seed: int = 0,
                       on_epoch: Callable[[EpochLog], None] | None = None,
                       progress: ProgressFn | None = None) -> TrainedHead:
    """The baseline without ImageNet: a small CNN from random weights, trained on the same images.

    Only the backbone's input normalisation is borrowed (no learned weight); images are averaged
    down to ``size``×``size``, which a network this small needs to train in seconds.
    """
    shrink = nn.AdaptiveAvgPool2d(size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        body = small_cnn()
    started = time.perf_counter()
    train_inputs = backbone.block_inputs(shrink, train_images, progress)
    val_inputs = backbone.block_inputs(shrink, val_images) if val_images else None
    feature_seconds = time.perf_counter() - started
    head = _train(train_inputs, train_labels, classes, body, val_inputs, val_labels, epochs, lr, weight_decay,
                  batch_size, seed, on_epoch, block_lr=lr)
    head.frozen = shrink
    head.feature_seconds = feature_seconds
    return head


def _train(train_x, train_labels, classes, block, val_x, val_labels, epochs, lr, weight_decay, batch_size, seed,
           on_epoch, block_lr: float = 0.0) -> TrainedHead:
    y = torch.as_tensor(list(train_labels), dtype=torch.long)
    y_val = torch.as_tensor(list(val_labels), dtype=torch.long) if val_labels is not None and val_x is not None else None
    train_x = train_x.float()
    if block is not None:
        block.eval()  # frozen batch-norm statistics, no dropout
        for parameter in block.parameters():
            parameter.requires_grad_(True)
        with torch.no_grad():
            reference = block(train_x).flatten(1)
    else:
        reference = train_x
    # Centre with the training mean and divide by one overall scale, so that one learning rate
    # suits every backbone. A per-feature scale would blow up features that happen to be
    # (nearly) constant on a few training images and not on new ones.
    mean = reference.mean(0)
    std = (reference - mean).pow(2).mean().sqrt().clamp_min(1e-6).expand_as(mean).clone()
    with torch.random.fork_rng(devices=[]):  # seeded, without touching other sessions' random state
        torch.manual_seed(seed)
        linear = nn.Linear(reference.shape[1], len(classes))
    groups = [{"params": linear.parameters(), "lr": lr}]
    if block is not None:
        groups.append({"params": [p for p in block.parameters() if p.requires_grad], "lr": block_lr})
    optimiser = torch.optim.AdamW(groups, weight_decay=weight_decay)
    head = TrainedHead(list(classes), linear, mean, std, block)
    generator = torch.Generator().manual_seed(seed)
    compute = 0.0  # seconds of training arithmetic, not counting the caller's chart updates

    def forward(x):
        features = block(x).flatten(1) if block is not None else x
        return head.logits_from_features(features)

    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(len(y), generator=generator)
        total, correct = 0.0, 0
        for begin in range(0, len(y), batch_size):
            index = order[begin:begin + batch_size]
            logits = forward(train_x[index])
            loss = F.cross_entropy(logits, y[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == y[index]).sum())
        val_loss = val_accuracy = None
        if y_val is not None:
            with torch.no_grad():
                val_logits = forward(val_x.float())
                val_loss = float(F.cross_entropy(val_logits, y_val))
                val_accuracy = _accuracy(val_logits, y_val)
        compute += time.perf_counter() - started
        log = EpochLog(epoch, total / len(y), correct / len(y), val_loss, val_accuracy, compute)
        head.logs.append(log)
        if on_epoch:
            on_epoch(log)
    head.train_seconds = compute
    if block is not None:
        for parameter in block.parameters():
            parameter.requires_grad_(False)
    return head


def backbone_names() -> list[str]:
    """Registered ImageNet classifiers that are ready offline, preferred first."""
    from cvdemo.registry import Task, ready_models

    preferred = ["mobilenet_v2", "efficientnet_lite0"]
    # ImageNet classifiers only: their features are general; a face-emotion classifier's are not.
    names = [s.name for s in ready_models(Task.CLASSIFICATION) if s.family == "ImageNet classifier"]
    return sorted(names, key=lambda n: (preferred.index(n) if n in preferred else len(preferred), n))
