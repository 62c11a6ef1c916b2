"""A batch of images through one forward pass gives what one-image calls give.

Tolerances: fp32 sums in a different order when the batch changes (oneDNN blocks a batch of one
differently from a batch of three), so raw outputs may move by a few float32 ulps of the
output's own range. 1e-5 of that range is about 80 ulps; the largest measured was 3e-6.
Finished results inherit it: boxes within 1e-5 of the photo's longest side, scores and class
probabilities within 1e-5, person probabilities within 1e-5 of the logits' range over 4 (the
sigmoid's steepest slope).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch
from PIL import Image

from cvdemo import registry
from cvdemo.batching import run_batch
from cvdemo.results import Classification, Detections, SemanticMask

IMAGE_MODELS = ["nanodet", "centernet", "yolov3-tiny", "yolov3-tiny-320", "selfie", "meet", "mobilenet_v2",
                "efficientnet_lite0", "emotion"]
RELATIVE = 1e-5


@lru_cache(maxsize=None)
def model(name: str):
    return registry.load_model(name, "cpu")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    from skimage import data

    # three sizes and contents: a portrait, a cat, a cup seen from above
    return [np.ascontiguousarray(data.astronaut()), np.ascontiguousarray(data.chelsea()), np.ascontiguousarray(data.coffee())]


def single_call(wrapper, image):
    for method in ("detect", "segment", "classify"):
        if hasattr(wrapper, method):
            return getattr(wrapper, method)(image)
    raise AssertionError(f"{wrapper} has no single-image call")


def assert_close_to_range(batched: torch.Tensor, single: torch.Tensor) -> None:
    scale = float(single.abs().max())
    error = float((batched - single).abs().max())
    assert error <= RELATIVE * max(scale, 1.0), f"off by {error:.2e} on a range of {scale:.2e}"


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_one_forward_over_a_batch_equals_one_image_passes(name, photos):
    wrapper = model(name)
    prepared = [wrapper.prepare(photo) for photo in photos]
    batched = wrapper.forward(torch.cat([p.inputs for p in prepared]))
    for index, p in enumerate(prepared):
        single = wrapper.forward(p.inputs)
        assert len(single) == len(batched)
        for out_batch, out_single in zip(batched, single):
            assert out_batch.shape[0] == len(photos) and out_single.shape[0] == 1
            assert out_batch.dtype == torch.float32
            assert_close_to_range(out_batch[index], out_single[0])


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_finished_batch_results_equal_the_single_image_call(name, photos):
    wrapper = model(name)
    batch = run_batch(wrapper, photos)
    for photo, result in zip(photos, batch):
        expected = single_call(wrapper, photo)
        assert type(result) is type(expected)
        if isinstance(expected, Detections):
            assert result.image_size == expected.image_size
            np.testing.assert_array_equal(result.labels, expected.labels)
            np.testing.assert_allclose(result.boxes, expected.boxes, rtol=0, atol=RELATIVE * max(photo.shape[:2]))
            np.testing.assert_allclose(result.scores, expected.scores, rtol=0, atol=RELATIVE)
        elif isinstance(expected, SemanticMask):
            # the probabilities are sigmoids of the logits, whose slope is at most 1/4
            logit_range = float(wrapper.forward(wrapper.prepare(photo).inputs)[0].abs().max())
            atol = RELATIVE * logit_range / 4
            np.testing.assert_allclose(result.probabilities, expected.probabilities, rtol=0, atol=atol)
            decided = np.abs(expected.probabilities[1] - 0.5) > atol
            np.testing.assert_array_equal(result.classes[decided], expected.classes[decided])
        else:
            assert isinstance(expected, Classification)
            np.testing.assert_allclose(result.probabilities, expected.probabilities, rtol=0, atol=RELATIVE)
    if isinstance(batch[0], Detections):
        assert sum(len(result) for result in batch) > 0  # something to compare: the astronaut is a person


@pytest.mark.parametrize("name", ["nanodet", "meet"])
def test_converted_graphs_keep_two_different_photos_apart(name, photos):
    """The TF.js exports baked batch 1 into their Reshape ops: a batch of two must give two
    separate results, each the one its photo gives alone (not the images mixed, not an error)."""
    wrapper = model(name)
    astronaut, cat = (wrapper.prepare(photo).inputs for photo in photos[:2])
    pair = wrapper.forward(torch.cat([astronaut, cat]))
    alone = [wrapper.forward(astronaut), wrapper.forward(cat)]
    for k, output in enumerate(pair):
        assert output.shape == (2, *alone[0][k].shape[1:])
        for index in range(2):
            assert_close_to_range(output[index], alone[index][k][0])
        assert float((output[0] - output[1]).abs().max()) > 0.1  # two photos, two different answers
    if name == "nanodet":
        assert pair[0].shape[1] == 52 * 52 + 26 * 26 + 13 * 13  # every cell of one image, once


def test_dlib_descriptors_of_a_batch_of_chips_equal_one_chip_at_a_time(shared_facedata):
    embedder = model("dlib_resnet")
    names = ["obama2_face0.png", "biden_face0.png", "john1_face0.png", "astronaut_face0.png"]
    chips = np.stack([np.asarray(Image.open(shared_facedata / "chips" / name).convert("RGB")) for name in names])
    together = embedder.embed(chips)
    one_by_one = np.concatenate([embedder.embed(chip) for chip in chips])
    # descriptors have norm about 1; dlib's own threshold is 0.6
    np.testing.assert_allclose(together, one_by_one, rtol=0, atol=RELATIVE)
    batch = run_batch(embedder, list(chips))
    np.testing.assert_allclose(np.stack(batch), one_by_one, rtol=0, atol=RELATIVE)
    assert np.linalg.norm(together[0] - together[1]) > 0.6  # Obama is not Biden


def test_mtcnn_refines_the_crops_of_several_photos_in_one_pass_each(shared_facedata):
    mtcnn = model("mtcnn")
    photos = [np.asarray(Image.open(shared_facedata / "images" / name).convert("RGB"))
              for name in ("obama_and_biden.jpg", "kit_with_rose.jpg", "john1.jpeg")]
    calls = {"rnet": [], "onet": []}
    counting = _CountingCascade(mtcnn, calls)
    batch = counting.run_batch(photos)
    assert len(calls["rnet"]) == 1 and len(calls["onet"]) == 1  # one pass per stage for all photos
    assert calls["rnet"][0] > 3  # crops of several photos together
    for photo, result in zip(photos, batch):
        alone = mtcnn.run(photo)
        assert len(result.boxes) == len(alone.boxes) >= 1
        np.testing.assert_allclose(result.boxes, alone.boxes, rtol=0, atol=RELATIVE * max(photo.shape[:2]))
        np.testing.assert_allclose(result.landmarks, alone.landmarks, rtol=0, atol=RELATIVE * max(photo.shape[:2]))
        np.testing.assert_allclose(result.scores, alone.scores, rtol=0, atol=RELATIVE)
        assert result.stages.keys() == alone.stages.keys()


class _CountingCascade:
    """The MTCNN wrapper with its R-Net/O-Net passes counted (a shallow copy: the networks are shared)."""

    def __new__(cls, mtcnn, calls):
        import copy

        counted = copy.copy(mtcnn)

        def count(stage, forward):
            def wrapped(crops):
                calls[stage].append(len(crops))
                return forward(crops)
            return wrapped

        counted.rnet_forward = count("rnet", mtcnn.rnet_forward)
        counted.onet_forward = count("onet", mtcnn.onet_forward)
        return counted
