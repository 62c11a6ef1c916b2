"""Efficiency: how much less compute later networks need for AlexNet-level accuracy.

The geosciences lecture shows OpenAI's "AI and efficiency" chart (Hernandez & Brown, 2020,
*Measuring the Algorithmic Efficiency of Neural Networks*): the **training** compute needed to
reach AlexNet's ImageNet accuracy fell 44× from AlexNet (2012) to EfficientNet-B0 (2019), halving
about every 16 months. Those two headline numbers are the study's; the trend line between them is
drawn from the 16-month halving.

Beside it, the app's own count for **inference**: multiply-accumulates per 224×224 image, counted
by :mod:`cvdemo.architectures.table` on torchvision's builders (meta device, no weights), with the
ImageNet top-1 that torchvision publishes for each network's original weights. Training compute
and inference MACs are different quantities, so they are shown side by side, never on one axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Hernandez & Brown (2020), the source of the lecture's chart.
SOURCE = "Hernandez & Brown 2020, \"Measuring the Algorithmic Efficiency of Neural Networks\" (OpenAI, \"AI and efficiency\")"
REDUCTION_2012_TO_2019 = 44.0  # AlexNet → EfficientNet-B0, training compute to AlexNet-level top-1
HALVING_MONTHS = 16.0
LECTURE_POINTS = (("AlexNet", 2012, 1.0), ("EfficientNet-B0", 2019, 1.0 / REDUCTION_2012_TO_2019))

# torchvision classifiers with published ImageNet weights, the lecture's classics first.
NETWORKS = ("alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "mobilenet_v2", "shufflenet_v2_x1_0",
            "efficientnet_b0")
REFERENCE = "alexnet"


def halving_trend(year: float, start: float = 2012.0) -> float:
    """Compute relative to ``start`` if it halves every :data:`HALVING_MONTHS` months."""
    return 2.0 ** (-(year - start) * 12.0 / HALVING_MONTHS)


@dataclass(frozen=True)
class EfficiencyRow:
    name: str
    title: str
    year: int
    macs: int  # per 224×224 image, counted by the app
    published_gmacs: float | None  # torchvision's meta "_ops" ("GFLOPS", in fact G mult-adds)
    top1: float  # ImageNet-1K top-1, %, torchvision's original weights
    params: int

    def relative_macs(self, reference: "EfficiencyRow") -> float:
        return self.macs / reference.macs

    def at_least_as_accurate(self, reference: "EfficiencyRow") -> bool:
        return self.top1 >= reference.top1


def efficiency_rows(table_rows: Sequence[dict]) -> list[EfficiencyRow]:
    """The table module's rows (``macs_224``, ``top1``, …) as efficiency rows, oldest first."""
    rows = [EfficiencyRow(r["name"], r["title"], int(r["year"]), int(r["macs_224"]), r.get("meta_ops"),
                          float(r["top1"]), int(r["params"]))
            for r in table_rows if r.get("macs_224") and r.get("top1") is not None]
    return sorted(rows, key=lambda r: (r.year, r.macs))


def cheapest_at_alexnet_level(rows: Sequence[EfficiencyRow], reference: EfficiencyRow) -> list[EfficiencyRow]:
    """Per year, the network with the fewest MACs among those at least as accurate as ``reference``,
    keeping only years that lower the best so far (the lecture chart's blue frontier)."""
    frontier: list[EfficiencyRow] = []
    for year in sorted({r.year for r in rows}):
        candidates = [r for r in rows if r.year == year and r.at_least_as_accurate(reference)]
        if not candidates:
            continue
        best = min(candidates, key=lambda r: r.macs)
        if not frontier or best.macs < frontier[-1].macs:
            frontier.append(best)
    return frontier


def efficiency_figure(rows: Sequence[EfficiencyRow], reference: EfficiencyRow) -> go.Figure:
    """Left: the lecture's training-compute trend; right: the app's inference MACs vs year."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "Lecture: training compute to AlexNet-level top-1 (× AlexNet's)",
        "This app: inference MACs per 224×224 image (× AlexNet's)"))
    years = [2012 + step / 4 for step in range(4 * 7 + 1)]
    figure.add_trace(go.Scatter(x=years, y=[halving_trend(y) for y in years], mode="lines", name="halving every 16 months",
                                line=dict(dash="dash", color="grey")), row=1, col=1)
    figure.add_trace(go.Scatter(x=[p[1] for p in LECTURE_POINTS], y=[p[2] for p in LECTURE_POINTS], mode="markers+text",
                                text=[p[0] if p[2] == 1 else f"{p[0]} (1/{REDUCTION_2012_TO_2019:g})" for p in LECTURE_POINTS],
                                textposition=["top right" if p[1] < 2017 else "top left" for p in LECTURE_POINTS],
                                name="published", marker=dict(size=11, color="#1f77b4")),
                     row=1, col=1)
    frontier = cheapest_at_alexnet_level(rows, reference)
    figure.add_trace(go.Scatter(
        x=[r.year for r in rows], y=[r.relative_macs(reference) for r in rows], mode="markers+text",
        # labels of the late points go left, so that they stay inside the plot
        text=[r.title for r in rows], textposition=["middle right" if r.year < 2017 else "middle left" for r in rows],
        name="counted here",
        marker=dict(size=10, color=[r.top1 for r in rows], colorscale="Viridis", showscale=True,
                    colorbar=dict(title="top-1 %", x=1.02)),
        customdata=[[r.macs / 1e9, r.top1] for r in rows],
        hovertemplate="%{text}<br>%{customdata[0]:.3f} G MACs<br>top-1 %{customdata[1]:.1f}%<extra></extra>"), row=1, col=2)
    figure.add_trace(go.Scatter(x=[r.year for r in frontier], y=[r.relative_macs(reference) for r in frontier],
                                mode="lines", name="cheapest at ≥ AlexNet's top-1", line=dict(color="#1f77b4")),
                     row=1, col=2)
    figure.update_yaxes(type="log", title_text="relative to AlexNet (log)", row=1, col=1)
    figure.update_yaxes(type="log", row=1, col=2)
    figure.update_xaxes(title_text="year", range=[2011.5, 2020.5], row=1, col=1)
    figure.update_xaxes(title_text="year", range=[2011.5, 2020.5], row=1, col=2)
    figure.update_layout(height=460, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2))
    return figure
