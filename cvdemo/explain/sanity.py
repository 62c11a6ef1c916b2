"""Is the map about the model at all? Two checks from the literature.

* **Cascading randomisation** (Adebayo et al. 2018, "Sanity checks for saliency maps"): re-initialise
  the network's layers from the top (output) down, one block more at each step, and see how much
  each method's map changes (Spearman rank correlation with the original map). A method whose map
  barely changes while the model is being destroyed explains the image, not the model.
* **Deletion / insertion** (Petsiuk et al. 2018, RISE): delete pixels in order of decreasing
  attribution (replace them with a blurred copy) and watch the score fall; or insert them into the
  blurred image and watch it rise. A faithful map makes deletion fall fast (small area under the
  curve) and insertion rise fast (large area). ``insertion − deletion`` is one faithfulness number.

Both only call :func:`cvdemo.explain.attribute` and the model; randomisation works on private copies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from cvdemo.explain import attribute
from cvdemo.explain.core import AttributionError, ProgressFn, report, select_scores
from cvdemo.explain.occlusion import make_baseline


# ---------------------------------------------------------------------------------------------
# Cascading randomisation


def parameter_blocks(network: nn.Module, example: torch.Tensor, depth: int = 2) -> list[str]:
    """Module names that own parameters, grouped to ``depth`` name components, in forward order.

    For MobileNetV2 that is ``features.0`` … ``features.18``, ``classifier.1``: the "layers" the
    cascade randomises one at a time from the end. Runs the network once (on a copy) to learn the order.
    """
    probe = copy.deepcopy(network).eval()
    order: list[str] = []
    owners = {name for name, module in probe.named_modules()
              if any(True for _ in module.parameters(recurse=False))}

    def remember(name):
        def hook(*_):
            block = ".".join(name.split(".")[:depth])
            if block not in order:
                order.append(block)
        return hook

    for name, module in probe.named_modules():
        if name in owners:
            module.register_forward_hook(remember(name))  # on the throw-away probe
    with torch.no_grad():
        probe(example)
    return order


def randomise_block(network: nn.Module, block: str, generator: torch.Generator) -> None:
    """Re-draw the block's weights (He-normal for weights, zero biases; norms to identity)."""
    root = network.get_submodule(block) if block else network
    for module in root.modules():
        for name, parameter in list(module.named_parameters(recurse=False)):
            with torch.no_grad():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    parameter.fill_(1.0 if name == "weight" else 0.0)
                elif name == "bias" or parameter.ndim < 2:
                    parameter.zero_()
                else:
                    fan_in = parameter[0].numel()
                    values = torch.randn(parameter.shape, generator=generator) * (2.0 / max(fan_in, 1)) ** 0.5
                    parameter.copy_(values.to(parameter.device, parameter.dtype))
        if (isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None
                and module.running_var is not None):
            module.running_mean.zero_()
            module.running_var.fill_(1.0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


@dataclass
class RandomisationStep:
    block: str  # the block randomised last ("" for the original model)
    maps: dict[str, np.ndarray]
    correlations: dict[str, float]  # Spearman of |map| with the original |map|, per method


@dataclass
class RandomisationResult:
    steps: list[RandomisationStep] = field(default_factory=list)

    def table(self) -> list[dict]:
        return [{"randomised down to": step.block or "(original)", **{m: round(c, 3) for m, c in step.correlations.items()}}
                for step in self.steps]


def cascading_randomisation(network: nn.Module, inputs: torch.Tensor, target: int | None, methods: list[str],
                            options: dict[str, dict] | None = None, steps: int = 5, depth: int = 2, seed: int = 0,
                            progress: ProgressFn | None = None) -> RandomisationResult:
    """Randomise the last ``steps`` blocks one after another (top first) and compare every method's map.

    Rank correlation is taken on absolute values, as in Adebayo et al.: the sign of a map can flip
    under randomisation without the map being any less "the same picture".
    """
    options = options or {}
    inputs = inputs.detach()
    blocks = parameter_blocks(network, inputs[:1], depth)
    if not blocks:
        raise AttributionError("the network has no parameters to randomise")
    cascade = list(reversed(blocks))[:max(1, steps)]
    generator = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(network).eval()
    total = (len(cascade) + 1) * len(methods)
    done = 0
    result = RandomisationResult()
    originals: dict[str, np.ndarray] = {}
    for block in [""] + cascade:
        if block:
            randomise_block(model, block, generator)
        maps, correlations = {}, {}
        for method in methods:
            report(progress, done / total, f"sanity check: {method} with {'the original model' if not block else 'randomised ' + block}")
            maps[method] = attribute(method, model, inputs, target, **options.get(method, {})).map
            if not block:
                originals[method] = maps[method]
            correlations[method] = spearman(np.abs(originals[method]), np.abs(maps[method]))
            done += 1
        result.steps.append(RandomisationStep(block, maps, correlations))
    report(progress, 1.0, "sanity check done")
    return result


# ---------------------------------------------------------------------------------------------
# Deletion / insertion


@dataclass
class Curve:
    fractions: np.ndarray  # share of pixels deleted/inserted
    scores: np.ndarray  # the target's score (probability for classifiers) at each step

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.scores, self.fractions))


@dataclass
class Faithfulness:
    deletion: Curve
    insertion: Curve

    @property
    def score(self) -> float:
        """Insertion AUC − deletion AUC: higher means the map ranks pixels the way the model uses them."""
        return self.insertion.auc - self.deletion.auc


def _probability_fn(model: Callable, target: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    def score(batch: torch.Tensor) -> torch.Tensor:
        out = model(batch)
        if target is not None and out.ndim == 2 and out.shape[1] > 1:
            return torch.softmax(out.float(), dim=1)[:, int(target)]
        return select_scores(out, target).float()
    return score


@torch.no_grad()
def deletion_insertion(model: Callable, inputs: torch.Tensor, target: int | None, saliency: np.ndarray,
                       steps: int = 32, baseline="blur", batch_size: int = 17,
                       progress: ProgressFn | None = None) -> Faithfulness:
    """Both curves for one input item and one map; scores are softmax probabilities for classifiers."""
    x = inputs[:1].detach()
    height, width = x.shape[-2:]
    if saliency.shape != (height, width):
        raise AttributionError(f"the map is {saliency.shape}, the input {height}×{width}")
    empty = make_baseline(x, baseline, (max(8, height // 14), max(8, width // 14)))
    order = np.argsort(-saliency.ravel(), kind="stable")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * order.size).astype(int)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    rank_map = torch.as_tensor(rank.reshape(height, width), device=x.device)
    score = _probability_fn(model, target)
    curves = {}
    for kind in ("deletion", "insertion"):
        values = []
        for begin in range(0, len(counts), batch_size):
            chunk = counts[begin:begin + batch_size]
            masks = torch.stack([(rank_map < int(c)) for c in chunk])[:, None].to(x.dtype)  # 1 = top-ranked pixel
            if kind == "deletion":
                batch = x * (1 - masks) + empty * masks
            else:
                batch = empty * (1 - masks) + x * masks
            values.append(score(batch).double().cpu().numpy())
            report(progress, (0.5 if kind == "insertion" else 0.0) + 0.5 * min(1.0, (begin + len(chunk)) / len(counts)),
                   f"{kind} curve")
        curves[kind] = Curve(fractions, np.concatenate(values))
    return Faithfulness(curves["deletion"], curves["insertion"])
