"""Clever Hans: the tag, the flipped predictions it causes, occlusion finding it, and the view."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cvdemo.architectures import clever_hans, transfer
from cvdemo.registry import load_model
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def backbone():
    return transfer.Backbone(load_model("mobilenet_v2", "cpu"), "mobilenet_v2")


@pytest.fixture(scope="module")
def experiment(backbone):
    return clever_hans.run(backbone, "objects", ("cat", "coffee cup"), "cat", seed=0)


def test_the_tag_changes_only_its_box_and_survives_the_classifiers_crop(backbone, astronaut):
    framed = clever_hans.frame(astronaut)
    assert framed.shape == (clever_hans.FRAME, clever_hans.FRAME, 3)
    stamped = clever_hans.stamp(framed)
    x1, y1, x2, y2 = clever_hans.tag_box()
    changed = np.any(stamped != framed, axis=2)
    assert not changed[:y1].any() and not changed[y2 + 1:].any() and not changed[:, :x1].any() and not changed[:, x2 + 1:].any()
    assert (stamped[y1:y2 + 1, x1:x2 + 1] == 0).all(axis=2).mean() > 0.5  # mostly the black box
    # MobileNetV2 resizes 224 → 256 and crops 224: the tag must still be whole inside what it sees.
    scale, offset = 256 / 224, (256 - 224) / 2
    assert x1 * scale - offset > 0 and (y2 + 1) * scale - offset < 224


def test_the_tag_alone_flips_held_out_images_of_the_other_class(experiment):
    assert experiment.clean_accuracy >= 0.75  # the probe does learn the objects
    assert experiment.flip_rate > experiment.untagged_rate  # and the tag on top: stamping it flips more of them


def test_occlusion_puts_the_evidence_on_the_tag(backbone, experiment):
    clean, stamped = experiment.tagged_probabilities(backbone)
    most_flipped = int(np.argmax(stamped - clean))
    assert stamped[most_flipped] > 0.5 > clean[most_flipped]
    evidence = clever_hans.evidence(backbone, experiment, clever_hans.stamp(experiment.other_images[most_flipped]))
    assert evidence.probability == pytest.approx(stamped[most_flipped], abs=1e-5)
    # The tag's box, mapped through the classifier's resize and crop, by hand.
    x1, y1, x2, y2 = clever_hans.tag_box()
    scale = 256 / 224  # the crop shifts the tag but keeps its area
    expected_area = ((x2 + 1 - x1) * scale) * ((y2 + 1 - y1) * scale) / 224 ** 2
    assert evidence.area_share == pytest.approx(expected_area, rel=0.05)
    assert evidence.inside_share > 1.5 * evidence.area_share  # measured 1.6× (seed 0); an even spread gives 1×


@pytest.mark.page
def test_the_view_trains_and_explains():
    at = AppTest.from_file(str(ROOT / "pages" / "6_Architectures.py"), default_timeout=600)
    at.query_params["view"] = "Clever Hans"
    at.run()
    assert not at.exception
    at.button(key="arch_ch_train").click().run()
    assert not at.exception
    assert any("lies on the tag" in m.value and "the evidence an even spread" in m.value for m in at.markdown)
