"""dlib-style alignment: the geometry, the pyramid, and pixel-identical golden chips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvdemo.faces import align
from cvdemo.images import load_image


@pytest.fixture(scope="module")
def golden(shared_facedata):
    from cvdemo.faces import golden

    return golden.load(shared_facedata)


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    dst = src @ (scale * rotation).T + shift
    matrix = align.similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)
    assert np.allclose(align.apply(align.invert(matrix), dst), src)


def test_similarity_never_reflects():
    src = np.array([[0.0, 0], [1, 0], [0, 1]])
    mirrored = src * np.array([-1.0, 1.0])
    matrix = align.similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_pyramid_down_is_dlibs_integer_binomial_filter():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (23, 18, 3), dtype=np.uint8)
    out = align.pyramid_down(image)
    assert out.shape == ((23 - 3) // 2, (18 - 3) // 2, 3)
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])
    for r, c in [(0, 0), (3, 5), (out.shape[0] - 1, out.shape[1] - 1)]:
        window = image[2 * r:2 * r + 5, 2 * c:2 * c + 5].astype(np.int64)
        assert np.array_equal(out[r, c], (window * kernel[..., None]).sum((0, 1)) // 256)
    flat = np.full((40, 40, 3), 200, np.uint8)
    assert np.all(align.pyramid_down(flat) == 200)


def test_chip_details_carry_the_template_onto_the_landmarks():
    landmarks = align.dlib_template() * 2.0 + np.array([30.0, 50.0])  # the face twice as large, shifted
    details = align.dlib_chip_details(landmarks)
    assert details.angle == pytest.approx(0.0, abs=1e-9)
    assert details.scale == pytest.approx(2.0, abs=1e-9)
    # dlib maps the rectangle's corner pixels onto the chip's (a span of size·scale − 1 onto
    # size − 1), so the landmarks land within a pixel of the template, not exactly on it.
    assert np.allclose(align.apply(details.image_to_chip(), landmarks), align.dlib_template(), atol=1.0)


def test_off_image_chip_is_black_not_an_error():
    image = np.full((60, 60, 3), 255, np.uint8)
    details = align.dlib_chip_details(align.dlib_template() + 1000.0)
    assert align.extract_chip(image, details).max() == 0


def test_golden_landmarks_give_dlibs_chips_pixel_for_pixel(golden):
    """Our get_face_chip, fed dlib's own landmarks, cuts exactly dlib's chips (pyramid included)."""
    differing = {}
    for face in golden.faces:
        image = load_image(golden.image_path(face.source_image))
        ours = align.dlib_chip(image, face.landmarks5)
        reference = load_image(golden.chip_path(face.chip))
        assert ours.shape == reference.shape == (150, 150, 3)
        diff = np.abs(ours.astype(int) - reference)
        if diff.max():
            differing[face.chip] = (int(diff.max()), int((diff > 0).sum()))
    assert not differing, f"chips differ from dlib's: {differing}"


def test_template_helpers_scale_with_size_and_padding():
    assert np.allclose(align.dlib_template(150, 0.25), (0.25 + align.DLIB_TEMPLATE_UNIT) / 1.5 * 150)
    assert np.allclose(align.mtcnn_template(150, 0.25), align.MTCNN_TEMPLATE_150)
    big = align.mtcnn_template(300, 0.25)
    assert np.allclose(big, align.MTCNN_TEMPLATE_150 * 2)
    tight = align.mtcnn_template(150, 0.0)
    # without padding the face fills more of the chip: the eyes move apart
    assert tight[1, 0] - tight[0, 0] > align.MTCNN_TEMPLATE_150[1, 0] - align.MTCNN_TEMPLATE_150[0, 0]


# ---------------------------------------------------------------------------------------------
# dlib's 5-point shape predictor


@pytest.fixture(scope="module")
def predictor():
    from cvdemo.faces import shape_predictor

    return shape_predictor.load_shape_predictor()


def test_shape_predictor_file_structure(predictor):
    assert predictor.num_parts == 5 and len(predictor.levels) == 15
    for level in predictor.levels:
        assert level["idx1"].shape == (500, 15)  # 500 trees of depth 4 (15 splits, 16 leaves)
        assert level["leaves"].shape == (500, 16, 10)
        assert level["deltas"].shape == (len(level["anchor"]), 2) and level["anchor"].max() < 5
    # the mean shape sits inside the unit box, eyes above the nose
    assert np.all((predictor.initial_shape > 0) & (predictor.initial_shape < 1))
    assert predictor.initial_shape[4, 1] > predictor.initial_shape[:4, 1].max()


def test_dlibs_boxes_give_dlibs_landmarks_exactly(golden, predictor):
    """Fed dlib's detector boxes, the port reproduces dlib's integer landmarks for all 13 faces."""
    wrong = {}
    for face in golden.faces:
        points = predictor(load_image(golden.image_path(face.source_image)), face.box_ltrb)
        if not np.array_equal(points, face.landmarks5):
            wrong[face.chip] = float(np.abs(points - face.landmarks5).max())
    assert not wrong, wrong


def test_shape_predictor_handles_boxes_off_the_image(predictor):
    image = np.full((100, 100, 3), 128, np.uint8)
    points = predictor(image, (-50, -50, 40, 40))  # pixels outside read as 0, like dlib
    assert points.shape == (5, 2)
