"""Transfer learning's from-scratch baseline: the network, its training, the comparison with the linear probe, the view."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from cvdemo.architectures import transfer
from cvdemo.registry import load_model
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def backbone():
    return transfer.Backbone(load_model("mobilenet_v2", "cpu"), "mobilenet_v2")


def test_the_small_cnn_pools_to_one_vector_per_image():
    body = transfer.small_cnn(width=8)
    assert body(torch.zeros(2, 3, 64, 64)).flatten(1).shape == (2, 64)
    assert all(p.requires_grad for p in body.parameters())


def _split(name: str, per_class: int, seed: int):
    classes, train, test = transfer.demo_set(name, per_class, 6, seed)
    return classes, [i for i, _ in train], [l for _, l in train], [i for i, _ in test], [l for _, l in test]


def test_from_scratch_learns_the_training_set_without_any_imagenet_weight(backbone):
    classes, images, labels, test_images, test_labels = _split("textures", 4, 0)
    head = transfer.train_from_scratch(backbone, images, labels, classes, val_images=test_images, val_labels=test_labels,
                                       epochs=30, batch_size=8)
    assert head.final.train_accuracy == 1.0
    assert head.final.val_accuracy > 1 / len(classes) + 0.2  # well above chance on unseen pixels
    assert isinstance(head.frozen, torch.nn.AdaptiveAvgPool2d)  # nothing of the backbone but its input scaling


def test_pretrained_features_beat_training_from_scratch_with_two_images_per_class(backbone):
    probe, scratch = [], []
    for seed in (0, 1):
        classes, images, labels, test_images, test_labels = _split("objects", 2, seed)
        features, held_out = backbone.features(images), backbone.features(test_images)
        probe.append(transfer.train_head(features, labels, classes, val_features=held_out, val_labels=test_labels,
                                         epochs=25, lr=1e-3, weight_decay=1e-2, batch_size=8, seed=seed).final.val_accuracy)
        scratch.append(transfer.train_from_scratch(backbone, images, labels, classes, val_images=test_images,
                                                   val_labels=test_labels, epochs=30, batch_size=8, seed=seed).final.val_accuracy)
    assert sum(probe) > sum(scratch)


@pytest.mark.page
def test_the_view_compares_the_three_methods():
    at = AppTest.from_file(str(ROOT / "pages" / "6_Architectures.py"), default_timeout=600)
    at.query_params["view"] = "Transfer learning"
    at.session_state["arch_tl_live_mode"] = "Snapshot"  # WebRTC needs a browser
    at.run()
    at.selectbox(key="arch_tl_demo").set_value("textures")
    at.slider(key="arch_tl_per_class").set_value(2)
    at.run()
    at.button(key="arch_tl_compare").click().run()
    assert not at.exception
    methods = [row["method"] for row in at.session_state["arch_tl_compared"]]
    assert methods[0].startswith("linear") and methods[1].startswith("fine-tune") and methods[2].startswith("from scratch")
    assert all(row["held-out accuracy %"] is not None for row in at.session_state["arch_tl_compared"])
