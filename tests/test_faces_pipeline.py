"""End to end from the original photos: MTCNN → dlib-style alignment → ported ResNet, vs real dlib."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cvdemo import registry
from cvdemo.faces import align, evaluation, verify
from cvdemo.images import load_image
from cvdemo.tasks import Detector

MAX_DEVIATION = 0.1  # the bound on |our distance − dlib's distance|


@pytest.fixture(scope="module")
def pipeline():
    return verify.build_pipeline(torch.device("cpu"))


@pytest.fixture(scope="module")
def golden(shared_facedata):
    from cvdemo.faces import golden

    return golden.load(shared_facedata)


@pytest.fixture(scope="module")
def golden_run(pipeline, golden):
    return evaluation.detect_golden(pipeline, golden)


@pytest.fixture(scope="module")
def placed(pipeline, golden, golden_run):
    return evaluation.alignments(pipeline, golden, golden_run)


@pytest.fixture(scope="module")
def ours(pipeline, golden, golden_run):
    return evaluation.descriptors(pipeline, golden, golden_run)


@pytest.fixture(scope="module")
def template_only(pipeline, golden, golden_run):
    """The fallback path alone: every chip from MTCNN's points on the calibrated template."""
    return evaluation.descriptors(pipeline, golden, golden_run, template=align.mtcnn_template())


def _summary(pairs, placed=None) -> dict:
    out = {
        "largest_deviation": pairs[0].deviation,
        "largest_deviation_pair": [pairs[0].a, pairs[0].b],
        "largest_deviation_labelled_pairs": max(p.deviation for p in pairs if p.same_identity is not None),
        "pairs": [{"a": p.a, "b": p.b, "ours": round(p.ours, 4), "dlib": round(p.dlib, 4), "same_identity": p.same_identity}
                  for p in pairs],
    }
    if placed:
        out["alignment"] = {c: {"method": a.method, "consistency_px": a.consistency_px} for c, a in sorted(placed.items())}
    return out


@pytest.fixture(scope="module")
def report(ours, placed, golden, artifacts_dir):
    pairs = evaluation.compare_with_dlib(ours, golden)
    (artifacts_dir / "faces_vs_dlib.json").write_text(json.dumps(_summary(pairs, placed), indent=1))
    return pairs


def test_every_real_face_is_found_and_nothing_else(golden, golden_run):
    # dlib's astronaut_face0 is its false positive on the mission patch; MTCNN rightly skips it.
    assert golden_run.unmatched == ["astronaut_face0.png"]
    # MTCNN's own false positives: two blurred patches at the bottom left of obama_and_biden.jpg
    # score 0.93 and 0.92, above the pipeline's 0.9. facenet-pytorch's MTCNN, at the pipeline's
    # minimum face size, finds the same two with the same scores (the port follows it; see
    # tests/test_oracle_mtcnn.py).
    assert golden_run.extra == {"obama_and_biden.jpg": 2}


def test_same_identity_pairs_are_close_and_different_pairs_far(golden, ours):
    assert len(golden.same_pairs) == 9 and len(golden.different_pairs) == 46
    for a, b, _ in golden.same_pairs:
        d = verify.compare(ours[a], ours[b]).distance
        assert d < 0.6, f"{a} vs {b}: same person but distance {d:.3f}"
    for a, b, _ in golden.different_pairs:
        d = verify.compare(ours[a], ours[b]).distance
        assert d > 0.6, f"{a} vs {b}: different people but distance {d:.3f}"


def test_every_distance_within_0_1_of_dlib_and_every_verdict_equal(report):
    worst = report[0]
    assert worst.deviation <= MAX_DEVIATION, f"{worst.a} vs {worst.b}: ours {worst.ours:.3f}, dlib {worst.dlib:.3f}"
    disagreements = [(p.a, p.b, round(p.ours, 3), round(p.dlib, 3)) for p in report if not p.agrees]
    assert not disagreements
    assert len(report) == 66  # all pairs of the 12 faces, the unknown person included


def test_dlib_landmarks_are_recovered_on_every_fully_visible_face(golden, placed):
    """MTCNN places dlib's box, the ported shape predictor finds dlib's own landmarks (±2 px)."""
    fallback = sorted(c for c, a in placed.items() if a.method != "dlib 5-point landmarks")
    # the partly visible person at the picture's edge: the predictor loses it, the guard notices
    assert fallback == ["obama_and_biden_face2.png"]
    assert placed[fallback[0]].consistency_px > align.CONSISTENCY_LIMIT_PX
    for chip, alignment in placed.items():
        if chip not in fallback:
            assert np.abs(alignment.dlib_landmarks - golden.face(chip).landmarks5).max() <= 2, chip
            assert alignment.consistency_px < align.CONSISTENCY_LIMIT_PX / 1.5


def test_template_path_alone_also_meets_the_bound(golden, template_only, artifacts_dir):
    """Without the shape predictor (or when it is missing), the calibrated MTCNN template alone
    still gives dlib's verdicts and distances within 0.1."""
    pairs = evaluation.compare_with_dlib(template_only, golden)
    (artifacts_dir / "faces_vs_dlib_template_only.json").write_text(json.dumps(_summary(pairs), indent=1))
    assert pairs[0].deviation <= MAX_DEVIATION
    assert all(p.agrees for p in pairs)


def test_calibrated_constants_are_what_the_shared_photos_give(golden, golden_run):
    """MTCNN_TEMPLATE_150 and DLIB_BOX_IN_MTCNN_FRAME are derived data, not hand-tuned."""
    assert np.abs(evaluation.calibrate(golden_run, golden) - align.MTCNN_TEMPLATE_150).max() < 0.5
    assert np.abs(evaluation.calibrate_box(golden_run, golden) - align.DLIB_BOX_IN_MTCNN_FRAME).max() < 0.5


def test_pipeline_chip_is_close_to_dlibs_chip(pipeline, golden):
    face = golden.face("obama_face0.png")
    found = pipeline.faces(load_image(golden.image_path(face.source_image)))
    reference = load_image(golden.chip_path(face.chip)).astype(np.float64)
    ours = found[0].chip.astype(np.float64)
    correlation = np.corrcoef(ours.reshape(-1), reference.reshape(-1))[0, 1]
    assert found[0].alignment.method == "dlib 5-point landmarks"
    # The recovered landmarks are within 2 image px of dlib's (test above), about 1 chip px on
    # this face (a chip pixel is 2 image pixels here): such a chip correlates with dlib's at
    # least as well as dlib's own chip shifted by a whole pixel along either axis does.
    shifted = [np.corrcoef(reference[:, 1:].reshape(-1), reference[:, :-1].reshape(-1))[0, 1],
               np.corrcoef(reference[1:].reshape(-1), reference[:-1].reshape(-1))[0, 1]]
    assert correlation > min(shifted)
    assert verify.compare(found[0].descriptor, face.descriptor).distance < 0.1


def test_no_face_is_a_clear_error(pipeline):
    from skimage import data

    with pytest.raises(verify.NoFaceError, match="No face found in coffee.png"):
        pipeline.require_faces(data.coffee(), "coffee.png")


def test_several_faces_are_all_returned_left_to_right_with_a_note(pipeline, golden):
    image = load_image(golden.image_path("obama_and_biden.jpg"))
    faces = pipeline.faces(image)
    # Three people and MTCNN's two false positives at the bottom left (see the first test).
    assert len(faces) == 5
    assert [f.index for f in faces] == [0, 1, 2, 3, 4]
    assert all(faces[k].box[0] < faces[k + 1].box[0] for k in range(4))
    notes = verify.face_notes(faces, "obama_and_biden.jpg")
    assert notes and notes[0].startswith("5 faces found in obama_and_biden.jpg")
    assert verify.largest(faces) is max(faces, key=lambda f: f.area)


def test_tiny_faces_are_found_but_flagged(pipeline, astronaut):
    from PIL import Image

    small = np.asarray(Image.fromarray(astronaut).resize((128, 128), Image.BILINEAR))
    faces = pipeline.faces(small)
    assert len(faces) == 1 and faces[0].tiny
    notes = verify.face_notes(faces, "small.png")
    assert any("tiny" in n for n in notes)
    full = pipeline.faces(astronaut)
    assert len(full) == 1 and not full[0].tiny


def test_astronaut_sample_gives_nearly_dlibs_descriptor(pipeline, astronaut, golden):
    faces = pipeline.faces(astronaut)
    # the same photo through our pipeline vs dlib's descriptor of Eileen Collins' golden chip
    d = verify.compare(faces[0].descriptor, golden.face("astronaut_face1.png").descriptor).distance
    assert d < 0.1


def test_progress_is_reported(pipeline, astronaut):
    seen = []
    pipeline.faces(astronaut, progress=lambda fraction, text: seen.append((fraction, text)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0 and len(seen) >= 3


def test_mtcnn_is_a_detector_with_landmarks(pipeline, astronaut):
    detector = pipeline.detector
    assert isinstance(detector, Detector)
    detections = detector.detect(astronaut, score_threshold=0.9)
    assert len(detections) == 1 and detections.label_names == ["face"]
    landmarks = detections.insight.landmarks
    assert landmarks.shape == (1, 5, 2)
    x1, y1, x2, y2 = detections.boxes[0]
    assert np.all((landmarks[0, :, 0] > x1) & (landmarks[0, :, 0] < x2) & (landmarks[0, :, 1] > y1) & (landmarks[0, :, 1] < y2))
    left_eye, right_eye = landmarks[0, 0], landmarks[0, 1]
    assert left_eye[0] < right_eye[0]  # image-left eye first
    stages = detections.insight.stages
    assert len(stages["P-Net"]) > len(stages["R-Net"]) >= len(stages["O-Net"]) >= 1


def test_registry_entries_are_ready_and_benchmarkable(astronaut):
    mtcnn_spec, dlib_spec = registry.get("mtcnn"), registry.get("dlib_resnet")
    assert mtcnn_spec.task is registry.Task.FACE_DETECTION and mtcnn_spec.ready
    assert dlib_spec.task is registry.Task.FACE_EMBEDDING and dlib_spec.ready
    assert "CC0" in dlib_spec.licence
    embedder = dlib_spec.build("cpu")
    label, fn = dlib_spec.metadata["bench"](embedder)
    assert "150" in label and fn().shape == (1, 128)


def test_identify_frame_labels_every_face(pipeline):
    """What the live webcam runs per frame: detect, identify against the gallery, draw."""
    from cvdemo.faces import samples
    from cvdemo.faces.gallery import Gallery, identify_frame

    gallery = Gallery()
    for name, who in (("astronaut, mirrored", "Eileen Collins"), ("cameraman, mirrored", "cameraman")):
        gallery.add(who, pipeline.faces(samples.sample(name))[0].descriptor)
    frame = samples.sample("astronaut and cameraman (two faces)")
    annotated, found = identify_frame(pipeline, gallery, frame)
    assert [r.name for _, r in found] == ["Eileen Collins", "cameraman"]
    assert annotated.shape == frame.shape and not np.array_equal(annotated, frame)
    stranger = Gallery()
    stranger.add("cameraman", gallery.entries[1].descriptor)
    _, found = identify_frame(pipeline, stranger, samples.sample("astronaut (Eileen Collins)"))
    assert found[0][1].name is None and found[0][1].nearest == "cameraman"
