"""Oracle: facenet-pytorch's own MTCNN (its ``PNet``/``RNet``/``ONet`` modules and its ``MTCNN``
class, run from the installed package) against cvdemo's port.

The three networks must be the same functions: on the same real inputs they give the same
probabilities, box offsets and landmarks, up to float32 rounding (1e-5 on values in [-1, 1]).

The cascade around them follows the original step by step (pyramid levels area-resampled from
the photo, P-Net's floored 1-based windows, integer crops clipped and stretched at the border,
the original's box regression, squaring and NMS flavours), so the port finds the same faces as
facenet-pytorch's ``MTCNN`` with the same boxes and landmarks. Only the coordinates they are
reported in differ, by a fixed, documented shift: facenet-pytorch reports MATLAB-style boxes
(``x1, y1`` the 1-based first pixel, ``x2, y2`` the last) and landmarks in continuous
coordinates, the port the continuous box ``[x1 − 1, x2]`` and landmarks at pixel centres
(−0.5). The test undoes that shift and then holds every box edge and landmark to 1 px, the
scores to the network tolerance, and the count of faces to the original's.

Measured on every photo below, the gap is float32 rounding only: at most 1.2e-4 px (one ulp of
a coordinate near 2000) and 3e-7 in score. The bound is 1 px rather than an ulp because the
networks agree to 1e-5, not bit for bit, on every CPU: an offset 1e-5 away moves a box corner
by 1e-5 of its side, and a corner that close to an integer truncates to the neighbouring
pixel, so the next crop starts one pixel over; the next stage's regression then absorbs most
of that pixel, leaving its box within a pixel of the original's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from facenet_pytorch import MTCNN as FacenetMTCNN
from facenet_pytorch.models.mtcnn import ONet as FacenetONet
from facenet_pytorch.models.mtcnn import PNet as FacenetPNet
from facenet_pytorch.models.mtcnn import RNet as FacenetRNet

from PIL import Image

from cvdemo.faces import samples
from cvdemo.faces.mtcnn import WEIGHTS, _crop_corners, build_mtcnn

pytestmark = pytest.mark.oracle

NETWORK_TOLERANCE = 1e-5
CASCADE_TOLERANCE_PX = 1.0  # see the module docstring
# facenet-pytorch's coordinates → the port's (see the module docstring)
ORIGINAL_BOX_TO_PORT = np.array([-1.0, -1.0, 0.0, 0.0])
ORIGINAL_LANDMARK_TO_PORT = -0.5
# Real photos beside the repository: several faces, large photos, faces near the border.
FACEDATA_PHOTOS = ("obama_and_biden.jpg", "kit_with_rose.jpg", "john1.jpeg", "john2.jpeg", "obama.jpg", "obama2.jpg",
                   "biden.jpg", "biden2.jpg")


@pytest.fixture(scope="module")
def port():
    return build_mtcnn(torch.device("cpu"))


@pytest.fixture(scope="module")
def original_networks():
    for source in WEIGHTS.values():
        source.path()  # facenet-pytorch loads the same files; they must be the pinned ones
    return FacenetPNet().eval(), FacenetRNet().eval(), FacenetONet().eval()


@pytest.fixture(scope="module")
def astronaut_inputs(port):
    """A normalised pyramid level of the astronaut and the 24/48-pixel crops of every candidate
    the port's P-Net proposes on it (faces and non-faces alike)."""
    image = np.ascontiguousarray(samples.sample("astronaut (Eileen Collins)"))
    tensor = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
    level = port._normalise(torch.nn.functional.interpolate(tensor, scale_factor=0.3, mode="area"))
    candidates = torch.from_numpy(port.run(image).stages["P-Net"][:, :4] - ORIGINAL_BOX_TO_PORT).float()
    assert len(candidates) > 20
    corners = _crop_corners(candidates, image.shape[1], image.shape[0])
    return level, port._crops(tensor, corners, 24).contiguous(), port._crops(tensor, corners, 48).contiguous()


def test_the_three_networks_are_facenet_pytorchs(port, original_networks, astronaut_inputs):
    pnet, rnet, onet = original_networks
    level, crops24, crops48 = astronaut_inputs
    with torch.inference_mode():
        offsets, prob = port.network.pnet(level)
        their_offsets, their_prob = pnet(level)
        torch.testing.assert_close(offsets, their_offsets, rtol=0, atol=NETWORK_TOLERANCE)
        torch.testing.assert_close(prob, their_prob[:, 1], rtol=0, atol=NETWORK_TOLERANCE)

        offsets, prob = port.network.rnet(crops24)
        their_offsets, their_prob = rnet(crops24)
        torch.testing.assert_close(offsets, their_offsets, rtol=0, atol=NETWORK_TOLERANCE)
        torch.testing.assert_close(prob, their_prob[:, 1], rtol=0, atol=NETWORK_TOLERANCE)

        offsets, points, prob = port.network.onet(crops48)
        their_offsets, their_points, their_prob = onet(crops48)
        torch.testing.assert_close(offsets, their_offsets, rtol=0, atol=NETWORK_TOLERANCE)
        torch.testing.assert_close(points, their_points, rtol=0, atol=NETWORK_TOLERANCE)
        torch.testing.assert_close(prob, their_prob[:, 1], rtol=0, atol=NETWORK_TOLERANCE)
    assert float(prob.max()) > 0.99 and float(prob.min()) < 0.5  # faces and non-faces were both seen


def _assert_same_faces(image: np.ndarray, port) -> int:
    """The port finds the original's faces, as many, each within 1 px; returns how many."""
    boxes, probs, landmarks = FacenetMTCNN(keep_all=True, device="cpu").detect(image, landmarks=True)
    found = port.run(image)
    if boxes is None:
        assert len(found.boxes) == 0
        return 0
    boxes = np.asarray(boxes, dtype=np.float64) + ORIGINAL_BOX_TO_PORT
    landmarks = np.asarray(landmarks, dtype=np.float64) + ORIGINAL_LANDMARK_TO_PORT
    assert len(found.boxes) == len(boxes)
    matched = set()
    for box, points, prob in zip(boxes, landmarks, np.asarray(probs, dtype=np.float64)):
        nearest = int(np.argmin(np.abs(found.boxes - box).max(axis=1)))
        matched.add(nearest)
        assert np.abs(found.boxes[nearest] - box).max() <= CASCADE_TOLERANCE_PX, (found.boxes[nearest], box)
        assert np.abs(found.landmarks[nearest] - points).max() <= CASCADE_TOLERANCE_PX, (found.landmarks[nearest], points)
        assert abs(float(found.scores[nearest]) - prob) <= NETWORK_TOLERANCE
    assert len(matched) == len(boxes)  # one port face per original face
    return len(boxes)


@pytest.mark.parametrize("name", list(samples.SAMPLES))
def test_the_cascade_finds_facenet_pytorchs_faces_within_a_pixel(name, port):
    faces = _assert_same_faces(np.ascontiguousarray(samples.sample(name)), port)
    assert faces == (0 if name == "coffee cup (no face)" else 2 if "two faces" in name else 1)


@pytest.mark.parametrize("name", FACEDATA_PHOTOS)
def test_the_cascade_finds_facenet_pytorchs_faces_within_a_pixel_on_real_photos(name, port, shared_facedata):
    image = np.asarray(Image.open(shared_facedata / "images" / name).convert("RGB"))
    assert _assert_same_faces(image, port) >= 1
