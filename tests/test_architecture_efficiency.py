"""Efficiency to AlexNet-level accuracy: the app's MAC counts against AlexNet worked out by hand,
the lecture's trend, and the page view."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import get_weight

from cvdemo.architectures import efficiency, table


def _conv_macs(c_in: int, c_out: int, k: int, out: int) -> int:
    """k·k·C_in·C_out multiply-accumulates at each of the out×out output positions."""
    return k * k * c_in * c_out * out * out


def _out(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


# torchvision's AlexNet at 224×224, layer by layer: conv1 11×11/4 pad 2 → 55, pool → 27, conv2 5×5 → 27,
# pool → 13, conv3–5 3×3 → 13, pool → 6, then 9216 → 4096 → 4096 → 1000.
CONV1 = _conv_macs(3, 64, 11, _out(224, 11, 4, 2))
ALEXNET = (CONV1 + _conv_macs(64, 192, 5, 27) + _conv_macs(192, 384, 3, 13) + _conv_macs(384, 256, 3, 13)
           + _conv_macs(256, 256, 3, 13) + 256 * 6 * 6 * 4096 + 4096 * 4096 + 4096 * 1000)


@pytest.fixture(scope="module")
def rows():
    return efficiency.efficiency_rows(table.table(efficiency.NETWORKS, use_disk=False))


def test_conv1_of_alexnet_by_hand():
    assert _out(224, 11, 4, 2) == 55 and CONV1 == 70_276_800
    with torch.device("meta"):
        conv1 = nn.Sequential(torchvision.models.alexnet().features[0])
    assert table.count_macs(conv1, 224) == CONV1


def test_alexnet_row_matches_the_hand_count_and_torchvisions_published_ops(rows):
    alexnet = next(r for r in rows if r.name == "alexnet")
    assert alexnet.macs == ALEXNET == 714_188_480
    # torchvision publishes G mult-adds rounded to 3 decimals (it calls them GFLOPS)
    assert alexnet.published_gmacs == get_weight("AlexNet_Weights.IMAGENET1K_V1").meta["_ops"] == round(ALEXNET / 1e9, 3)
    assert alexnet.top1 == get_weight("AlexNet_Weights.IMAGENET1K_V1").meta["_metrics"]["ImageNet-1K"]["acc@1"]
    for row in rows:  # every count agrees with torchvision's to its published rounding
        assert row.published_gmacs == pytest.approx(row.macs / 1e9, abs=5e-4), row.name


def test_the_frontier_of_networks_at_alexnet_level(rows):
    reference = next(r for r in rows if r.name == "alexnet")
    by_name = {r.name: r for r in rows}
    assert by_name["mobilenet_v2"].at_least_as_accurate(reference)
    assert by_name["mobilenet_v2"].relative_macs(reference) == pytest.approx(by_name["mobilenet_v2"].macs / ALEXNET)
    # cheapest per year among those ≥ AlexNet's top-1, only where it beats the best so far:
    # 2014 (VGG-16, GoogLeNet) and 2015 (ResNets) cost more than AlexNet; in 2018 ShuffleNetV2 costs less
    # than MobileNetV2; EfficientNet-B0 (2019) costs more than ShuffleNetV2.
    frontier = [r.name for r in efficiency.cheapest_at_alexnet_level(rows, reference)]
    expected = ["alexnet"]
    for year in sorted({r.year for r in rows}):
        able = [r for r in rows if r.year == year and r.top1 >= reference.top1]
        best = min(able, key=lambda r: r.macs) if able else None
        if best is not None and best.macs < by_name[expected[-1]].macs:
            expected.append(best.name)
    assert frontier == expected == ["alexnet", "shufflenet_v2_x1_0"]


def test_the_lectures_trend():
    assert efficiency.halving_trend(2012) == 1.0
    assert efficiency.halving_trend(2012 + 16 / 12) == pytest.approx(0.5, abs=1e-12)
    # 2012 → 2019 is 84 months = 5.25 halvings: 2^5.25 ≈ 38×, the study's measured 44× being a little more
    assert 1 / efficiency.halving_trend(2019) == pytest.approx(2 ** 5.25, rel=1e-12)


def test_figure_shows_the_lectures_points_and_the_counted_networks(rows):
    reference = next(r for r in rows if r.name == "alexnet")
    figure = efficiency.efficiency_figure(rows, reference)
    published = next(t for t in figure.data if t.name == "published")
    assert list(published.y) == [1.0, 1 / 44]
    counted = next(t for t in figure.data if t.name == "counted here")
    assert list(counted.y) == [r.macs / ALEXNET for r in rows]


@pytest.mark.page
def test_efficiency_view_shows_the_counts_and_the_cheapest_alexnet_level_network():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "6_Architectures.py"), default_timeout=300)
    at.run()
    at.radio(key="view").set_value("Efficiency").run()
    assert not at.exception, [e.value for e in at.exception]
    frame = next(d.value for d in at.dataframe if "G MACs (counted here)" in d.value.columns).set_index("network")
    assert frame.loc["AlexNet", "G MACs (counted here)"] == round(ALEXNET / 1e9, 3)
    assert frame.loc["AlexNet", "top-1 %"] == 56.5
    text = " ".join(m.value for m in at.markdown)
    assert "**44×**" in text and "**16 months**" in text
    (shufflenet,) = table.table(["shufflenet_v2_x1_0"])
    assert f"**ShuffleNetV2 1.0×** (2018) reaches {shufflenet['top1']:.1f}% top-1" in text
    assert f"with **{ALEXNET / shufflenet['macs_224']:.1f}× fewer** MACs" in text
