"""Oracle: dlib itself (the ``dlib-bin`` wheel) against cvdemo's torch port of its face ResNet and
its 5-point shape predictor, on the app's sample faces and on faces found in photos.

Both sides read the same pinned model files. The landmark predictor is a cascade of regression
trees on integer pixel lookups, so the port must give the very same integers; the chips are cut
with the same bilinear sampling, so they must be the same bytes. Descriptors come from 29 float32
layers summed in a different order, so they may differ by rounding: 1e-5 on values of about 0.1
leaves room for ~100 float32 ulps per component (measured: 4e-7).
"""

from __future__ import annotations

import dlib  # the dlib-bin wheel of requirements-test.txt
import numpy as np
import pytest
import torch

from cvdemo.faces import align, samples
from cvdemo.faces.embedder import DLIB_RESNET_WEIGHTS, DESCRIPTOR_SIZE
from cvdemo.faces.golden import facedata_dir
from cvdemo.faces.mtcnn import build_mtcnn
from cvdemo.faces.shape_predictor import SHAPE_PREDICTOR_WEIGHTS, load_shape_predictor

pytestmark = pytest.mark.oracle

DESCRIPTOR_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def dlib_models():
    return (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(SHAPE_PREDICTOR_WEIGHTS.path())),
            dlib.face_recognition_model_v1(str(DLIB_RESNET_WEIGHTS.path())))


@pytest.fixture(scope="module")
def port():
    from cvdemo.faces.embedder import build_embedder

    return load_shape_predictor(), build_embedder(torch.device("cpu"))


@pytest.fixture(scope="module")
def mtcnn():
    return build_mtcnn(torch.device("cpu"))


def _photos() -> dict[str, np.ndarray]:
    photos = {name: np.ascontiguousarray(samples.sample(name)) for name in samples.SAMPLES}
    shared = facedata_dir()
    if shared is not None:  # more faces where the development data sits beside the checkout
        from cvdemo.images import load_image

        photos.update({path.name: load_image(path.read_bytes(), name=path.name) for path in sorted((shared / "images").iterdir())})
    return photos


PHOTOS = _photos()


def _compare_face(image, box_ltrb, dlib_models, port) -> None:
    _, dlib_predictor, dlib_net = dlib_models
    port_predictor, port_embedder = port
    shape = dlib_predictor(image, dlib.rectangle(*box_ltrb))
    expected_points = np.array([[p.x, p.y] for p in shape.parts()])
    points = port_predictor(image, box_ltrb)
    np.testing.assert_array_equal(points, expected_points)
    expected_chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
    chip = align.dlib_chip(image, points)
    np.testing.assert_array_equal(chip, expected_chip)
    expected = np.array(dlib_net.compute_face_descriptor(expected_chip), dtype=np.float64)
    got = port_embedder.embed(chip)[0]
    assert got.shape == (DESCRIPTOR_SIZE,)
    assert np.abs(got - expected).max() <= DESCRIPTOR_TOLERANCE


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_faces_dlib_finds_get_the_same_landmarks_chip_and_descriptor(photo, dlib_models, port):
    image = PHOTOS[photo]
    detector = dlib_models[0]
    for face in detector(image, 1):  # dlib's HOG detector misses the cameraman's face; MTCNN's below do not
        _compare_face(image, (face.left(), face.top(), face.right(), face.bottom()), dlib_models, port)


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_faces_mtcnn_finds_get_the_same_landmarks_chip_and_descriptor(photo, dlib_models, port, mtcnn):
    image = PHOTOS[photo]
    found = mtcnn.detect(image)
    if photo in samples.IDENTITY:
        assert len(found) >= 1, f"MTCNN finds no face in the sample {photo!r}"
    for points in found.insight.landmarks:
        _compare_face(image, align.dlib_box_from_mtcnn(points), dlib_models, port)


def test_the_two_sample_people_are_told_apart_by_both(dlib_models, port, mtcnn):
    _, dlib_predictor, dlib_net = dlib_models
    descriptors = []
    for name in ("astronaut (Eileen Collins)", "cameraman"):
        image = PHOTOS[name]
        found = mtcnn.detect(image)
        points = found.insight.landmarks[int(np.argmax(found.scores))]
        chip = dlib.get_face_chip(image, dlib_predictor(image, dlib.rectangle(*align.dlib_box_from_mtcnn(points))), size=150, padding=0.25)
        descriptors.append((np.array(dlib_net.compute_face_descriptor(chip)), port[1].embed(chip)[0]))
    (dlib_a, port_a), (dlib_b, port_b) = descriptors
    assert np.linalg.norm(port_a - port_b) == pytest.approx(np.linalg.norm(dlib_a - dlib_b), abs=2 * DESCRIPTOR_TOLERANCE)
    assert np.linalg.norm(port_a - port_b) > 0.6  # dlib's own threshold: different people
