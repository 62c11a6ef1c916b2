"""Skip connections found in real decoders and cut one by one; PSPNet / DeepLabV3+ sizes by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from cvdemo.segmentation import skips


class TinyFCN(nn.Module):
    """stride-2 encoder map e, stride-4 bottleneck b, upsampled and added to e: one skip at stride 2."""

    def __init__(self):
        super().__init__()
        self.down1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.score = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        e = self.down1(x)
        b = self.down2(e)
        u = F.interpolate(b, scale_factor=2.0, mode="nearest")
        return F.interpolate(self.score(u + e), scale_factor=2.0, mode="nearest")


def _tiny_model():
    torch.manual_seed(0)
    network = TinyFCN().eval()
    traced = fx.symbolic_trace(network)
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    model = SimpleNamespace(network=nn.Sequential(traced), preprocess=lambda _: tensor, input_size=(16, 16))
    return network, traced, model, image, tensor


def test_a_hand_built_skip_is_found_and_cut():
    network, traced, model, image, tensor = _tiny_model()
    found = skips.find_skips(traced, (16, 16))
    assert len(found) == 1
    skip = found[0]
    assert (skip.source, skip.stride, skip.size, skip.merge_kind, skip.merged_channels) == ("down1", 2.0, (8, 8), "addition", 4)
    with torch.no_grad():
        full = torch.sigmoid(network(tensor))[0, 0].numpy()
        # by hand: the same network with e's contribution to the sum removed
        b = network.down2(network.down1(tensor))
        cut = torch.sigmoid(F.interpolate(network.score(F.interpolate(b, scale_factor=2.0)), scale_factor=2.0))[0, 0].numpy()
    np.testing.assert_allclose(skips.run_with_skips(model, image, found, found), full, rtol=0, atol=1e-7)
    np.testing.assert_allclose(skips.run_with_skips(model, image, found, []), cut, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name,kind", [("selfie", "addition"), ("meet", "concatenation")])
def test_person_segmenters_have_three_skips_and_the_full_ladder_is_the_network(require_ready, astronaut, name, kind):
    require_ready(name)
    from cvdemo import registry

    model = registry.load_model(name, torch.device("cpu"))
    found = skips.find_skips(skips.graph_module(model), model.input_size)
    assert [s.stride for s in found] == [8.0, 4.0, 2.0]
    assert {s.merge_kind for s in found} == {kind}
    ladder = skips.skip_ladder(model, astronaut, found)
    assert len(ladder) == 4
    with torch.inference_mode():  # the wrapper returns the person logit (meet: the two-class difference)
        reference = torch.sigmoid(model.network(model.preprocess(astronaut)).float())[0, 0].numpy()
    np.testing.assert_allclose(ladder[-1].probability, reference, atol=1e-6)
    assert ladder[-1].iou_with_full == 1.0
    assert ladder[0].iou_with_full < 0.9  # without skips the mask is visibly different
    assert ladder[0].edge_sharpness < ladder[-1].edge_sharpness  # and blurrier at its boundary


def test_psp_pyramid_by_hand():
    (fh, fw), levels = skips.psp_pyramid(473, 473)
    assert (fh, fw) == (60, 60)  # PSPNet's 473×473 crops give a 60×60 stride-8 map
    assert [level.bins for level in levels] == [1, 2, 3, 6]
    assert levels[-1].cell == (10.0, 10.0) and levels[-1].pixels == pytest.approx((473 / 6, 473 / 6))


def test_deeplabv3plus_by_hand():
    sizes = skips.deeplabv3plus(513, 513)
    assert sizes["encoder"] == (33, 33) and sizes["low_level"] == (48, 129, 129)
    assert sizes["decoder_concat"] == (304, 129, 129)
    branches = {b.name: b for b in sizes["aspp_branches"]}
    assert branches["3×3 conv, rate 6"].span_cells == 13 and branches["3×3 conv, rate 6"].span_pixels == 208
    # at the centre (16, 16) of 33×33, a rate-18 tap lands at 16 ± 18: off the map, so only the centre tap is left
    assert branches["3×3 conv, rate 18"].taps_inside == 1 and branches["3×3 conv, rate 12"].taps_inside == 9


@pytest.mark.page
def test_skips_view_on_the_segmentation_page(require_ready):
    require_ready("selfie")
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "2_Segmentation.py"), default_timeout=600)
    at.session_state["seg_mode"] = "How decoders upsample"
    at.session_state["seg_dec_view"] = "Skips, PSPNet and DeepLabV3+"
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    table = next(f.value for f in at.dataframe if "fused by" in f.value.columns)
    assert list(table["skip"].str.split().str[1]) == ["8", "4", "2"]
    at.number_input(key="seg_psp_h").set_value(473).run()
    at.number_input(key="seg_psp_w").set_value(473).run()
    assert any("**60×60**" in m.value for m in at.markdown)
    stages = next(f.value for f in at.dataframe if "stage" in f.value.columns)
    assert "30×30×2048" in list(stages["size"])  # 473 / 16 → 30 cells
