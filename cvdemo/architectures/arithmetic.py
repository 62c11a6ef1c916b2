"""Architecture arithmetic: what a layer costs in parameters and multiply-accumulates (MACs).

Counted by formula, from the layer's shape alone: a ``k×k`` convolution from ``C_in`` to ``C_out``
channels in ``g`` groups has ``k·k·(C_in/g)·C_out`` weights (plus ``C_out`` biases) and does that
many MACs at each of its ``H_out·W_out`` output positions. The tests check every formula against
the parameters of the equivalent torch module and torch's own FLOP counter.

Also here: the lectures' AlexNet table (with the two slips in it), VGG's configurations A–E and
the error rates the lectures quote for VGG and ResNet.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# One convolution


@dataclass(frozen=True)
class Cost:
    name: str
    params: int  # weights + biases
    macs: int
    out_shape: tuple[int, int, int]  # (channels, height, width)

    def as_record(self) -> dict:
        c, h, w = self.out_shape
        return {"layer": self.name, "output": f"{h}×{w}×{c}", "parameters": self.params, "MACs": self.macs}


def conv_output(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_cost(name: str, in_channels: int, out_channels: int, kernel: int, height: int, width: int, *, stride: int = 1,
              padding: int | None = None, groups: int = 1, bias: bool = True) -> Cost:
    """A 2-D convolution; ``padding=None`` keeps the size at stride 1 ("same")."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{in_channels} input and {out_channels} output channels do not split into {groups} groups")
    padding = kernel // 2 if padding is None else padding
    out_h, out_w = conv_output(height, kernel, stride, padding), conv_output(width, kernel, stride, padding)
    weights = kernel * kernel * (in_channels // groups) * out_channels
    return Cost(name, weights + (out_channels if bias else 0), weights * out_h * out_w, (out_channels, out_h, out_w))


def total(costs: list[Cost], name: str = "total") -> Cost:
    return Cost(name, sum(c.params for c in costs), sum(c.macs for c in costs), costs[-1].out_shape)


# ---------------------------------------------------------------------------------------------
# The three designs the lectures compare


def one_by_one(in_channels: int, out_channels: int, height: int, width: int) -> Cost:
    """A 1×1 convolution: a dense layer over channels, shared by every position."""
    return conv_cost("1×1 convolution", in_channels, out_channels, 1, height, width)


@dataclass(frozen=True)
class FullyConnectedEquivalent:
    """The lectures' "×1024 filters" example: a 1×1 convolution beside dense layers doing the same."""

    shared: Cost  # one 1×1 convolution, weights shared over positions
    unshared_weights: int  # a separate weight matrix at every position
    dense_on_flattened: int  # one dense layer from the flattened map to the flattened output


def convolutionalization_example(in_channels: int = 64, out_channels: int = 1024, size: int = 13) -> FullyConnectedEquivalent:
    shared = conv_cost("1×1 convolution", in_channels, out_channels, 1, size, size, bias=False)
    return FullyConnectedEquivalent(shared, in_channels * out_channels * size * size,
                                    (in_channels * size * size) * (out_channels * size * size))


@dataclass(frozen=True)
class InceptionBranches:
    """GoogLeNet's module: 1×1 | 1×1 → 3×3 | 1×1 → 5×5 | 3×3 max-pool → 1×1 (defaults: inception 3a)."""

    one: int = 64
    reduce3: int = 96
    three: int = 128
    reduce5: int = 16
    five: int = 32
    pool_proj: int = 32


def inception_module(in_channels: int, height: int, width: int, branches: InceptionBranches = InceptionBranches(),
                     reductions: bool = True) -> list[Cost]:
    """The module's convolutions; ``reductions=False`` is the naive module (3×3 and 5×5 straight on
    the input, pooling passed through), whose output then has ``in_channels`` more channels."""
    b = branches
    costs = [conv_cost("1×1", in_channels, b.one, 1, height, width)]
    if reductions:
        costs += [conv_cost("1×1 reduce → 3×3", in_channels, b.reduce3, 1, height, width),
                  conv_cost("3×3", b.reduce3, b.three, 3, height, width),
                  conv_cost("1×1 reduce → 5×5", in_channels, b.reduce5, 1, height, width),
                  conv_cost("5×5", b.reduce5, b.five, 5, height, width),
                  conv_cost("pool → 1×1 projection", in_channels, b.pool_proj, 1, height, width)]
    else:
        costs += [conv_cost("3×3", in_channels, b.three, 3, height, width),
                  conv_cost("5×5", in_channels, b.five, 5, height, width)]
    return costs


def inception_output_channels(in_channels: int, branches: InceptionBranches = InceptionBranches(),
                              reductions: bool = True) -> int:
    b = branches
    return b.one + b.three + b.five + (b.pool_proj if reductions else in_channels)


def depthwise_separable(in_channels: int, out_channels: int, kernel: int, height: int, width: int,
                        stride: int = 1) -> list[Cost]:
    """MobileNet's factorisation: a ``k×k`` filter per channel, then a 1×1 mixing the channels."""
    depthwise = conv_cost(f"{kernel}×{kernel} depthwise", in_channels, in_channels, kernel, height, width, stride=stride,
                          groups=in_channels)
    _, out_h, out_w = depthwise.out_shape
    return [depthwise, conv_cost("1×1 pointwise", in_channels, out_channels, 1, out_h, out_w)]


def separable_saving(out_channels: int, kernel: int) -> float:
    """MACs of depthwise + pointwise over a standard convolution: ``1/C_out + 1/k²`` (biases aside)."""
    return 1 / out_channels + 1 / kernel ** 2


# ---------------------------------------------------------------------------------------------
# AlexNet, as the lecture's table counts it

# The lecture's rows: (layer, units, weights). Units are the layer's output neurons; weights leave
# out the biases.
ALEXNET_LECTURE = (
    ("L1 (conv)", 290_400, 34_848),
    ("L2 (conv)", 186_624, 307_200),
    ("L3 (conv)", 64_896, 884_736),
    ("L4 (conv)", 64_869, 663_552),
    ("L5 (conv)", 43_264, 442_368),
    ("L6 (dense)", 4096, 37_748_736),
    ("L7 (dense)", 4096, 16_777_216),
    ("L8 (dense)", 1000, 4_096_000),
)
ALEXNET_LECTURE_TOTALS = {"conv units": 650_080, "conv weights": 2_332_704, "dense units": 9192,
                          "dense weights": 58_621_952, "units": 659_272, "weights": 60_954_656}

# Krizhevsky et al. 2012 at 227×227: (name, in, out, kernel, stride, padding, groups, input side)
_ALEXNET_CONVS = (("L1 (conv)", 3, 96, 11, 4, 0, 1, 227), ("L2 (conv)", 96, 256, 5, 1, 2, 2, 27),
                  ("L3 (conv)", 256, 384, 3, 1, 1, 1, 13), ("L4 (conv)", 384, 384, 3, 1, 1, 2, 13),
                  ("L5 (conv)", 384, 256, 3, 1, 1, 2, 13))
_ALEXNET_DENSE = (("L6 (dense)", 256 * 6 * 6, 4096), ("L7 (dense)", 4096, 4096), ("L8 (dense)", 4096, 1000))


@dataclass(frozen=True)
class AlexNetRow:
    layer: str
    units: int
    weights: int
    biases: int
    macs: int
    lecture_units: int
    lecture_weights: int

    @property
    def note(self) -> str:
        notes = []
        if self.units != self.lecture_units:
            notes.append(f"the slide's {self.lecture_units:,} units look like a transposition of {self.units:,}")
        if self.weights != self.lecture_weights:
            notes.append(f"the slide has {self.lecture_weights:,} weights")
        return "; ".join(notes)


def alexnet_rows() -> list[AlexNetRow]:
    """Every layer of the 2012 two-GPU AlexNet counted from its shape, beside the lecture's row."""
    lecture = {name: (units, weights) for name, units, weights in ALEXNET_LECTURE}
    rows = []
    for name, cin, cout, k, stride, padding, groups, side in _ALEXNET_CONVS:
        cost = conv_cost(name, cin, cout, k, side, side, stride=stride, padding=padding, groups=groups, bias=False)
        channels, h, w = cost.out_shape
        rows.append(AlexNetRow(name, channels * h * w, cost.params, cout, cost.macs, *lecture[name]))
    for name, cin, cout in _ALEXNET_DENSE:
        rows.append(AlexNetRow(name, cout, cin * cout, cout, cin * cout, *lecture[name]))
    return rows


# ---------------------------------------------------------------------------------------------
# VGG A–E and the error rates the lectures quote

# Simonyan & Zisserman's Table 1: per stage, the convolutions as kernel sizes (C uses 1×1s).
VGG_CONFIGS = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}
VGG_WIDTHS = (64, 128, 256, 512, 512)
VGG_LECTURE_PARAMS_M = {"A": 133, "B": 133, "C": 134, "D": 138, "E": 144}
VGG_TORCHVISION = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}


def vgg_costs(config: str, side: int = 224, classes: int = 1000) -> list[Cost]:
    """Every weighted layer of VGG configuration ``config`` (A–E; LRN has no weights)."""
    costs, channels, size = [], 3, side
    for stage, (kernels, width) in enumerate(zip(VGG_CONFIGS[config], VGG_WIDTHS), start=1):
        for index, kernel in enumerate(kernels, start=1):
            costs.append(conv_cost(f"conv{stage}_{index} ({kernel}×{kernel}, {width})", channels, width, kernel, size, size))
            channels = width
        size //= 2
    features = channels * size * size
    for name, cin, cout in (("FC-4096", features, 4096), ("FC-4096", 4096, 4096), (f"FC-{classes}", 4096, classes)):
        costs.append(Cost(name, cin * cout + cout, cin * cout, (cout, 1, 1)))
    return costs


@dataclass(frozen=True)
class QuotedError:
    network: str
    train_scale: str
    test_scale: str
    top1: float | None
    top5: float
    source: str


# The lecture's copy of Simonyan & Zisserman's Table 4 (multi-scale testing), and ResNet's result.
LECTURE_ERRORS = (
    QuotedError("VGG B", "256", "224, 256, 288", 28.2, 9.6, "lecture (VGG Table 4)"),
    QuotedError("VGG C", "256", "224, 256, 288", 27.7, 9.2, "lecture (VGG Table 4)"),
    QuotedError("VGG C", "384", "352, 384, 416", 27.8, 9.2, "lecture (VGG Table 4)"),
    QuotedError("VGG C", "[256; 512]", "256, 384, 512", 26.3, 8.2, "lecture (VGG Table 4)"),
    QuotedError("VGG D", "256", "224, 256, 288", 26.6, 8.6, "lecture (VGG Table 4)"),
    QuotedError("VGG D", "384", "352, 384, 416", 26.5, 8.6, "lecture (VGG Table 4)"),
    QuotedError("VGG D", "[256; 512]", "256, 384, 512", 24.8, 7.5, "lecture (VGG Table 4)"),
    QuotedError("VGG E", "256", "224, 256, 288", 26.9, 8.7, "lecture (VGG Table 4)"),
    QuotedError("VGG E", "384", "352, 384, 416", 26.7, 8.6, "lecture (VGG Table 4)"),
    QuotedError("VGG E", "[256; 512]", "256, 384, 512", 24.8, 7.5, "lecture (VGG Table 4)"),
    QuotedError("ResNet (ILSVRC 2015 entry)", "—", "ensemble, test set", None, 3.6, "lecture (\"top-5 error 3.6%\")"),
)
HUMAN_TOP5 = (5.0, 10.0)  # the lecture: humans "hover around a 5–10% error"


def torchvision_errors(names: tuple[str, ...] = ("vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
                                                   "resnet101", "resnet152")) -> list[QuotedError]:
    """Single 224×224 centre-crop errors of torchvision's original-recipe weights (from their
    metadata: nothing is downloaded)."""
    import torchvision

    rows = []
    for name in names:
        weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
        metrics = weights.meta["_metrics"]["ImageNet-1K"]
        rows.append(QuotedError(name, "torchvision recipe", "224 centre crop", 100 - metrics["acc@1"],
                                100 - metrics["acc@5"], "torchvision weights' metadata"))
    return rows
