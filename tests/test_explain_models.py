"""The explainability targets: EfficientNet-Lite0 offline, the emotion classifier, detections, faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cvdemo import registry
from cvdemo.explain import attribute
from cvdemo.explain.sanity import cascading_randomisation, deletion_insertion, spearman
from cvdemo.explain.targets import (
    classifier_subject,
    detection_subject,
    face_crop,
    parse_target,
    verification_subject,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def test_efficientnet_lite_loads_strictly_and_classifies(efficientnet, chelsea, coffee):
    spec = registry.get("efficientnet_lite0")
    assert spec.ready and spec.task.value == "classification"
    state = torch.load(spec.weights[0].path(), map_location="cpu", weights_only=True)
    assert set(state) == set(efficientnet.network.state_dict())  # strict: every key, nothing extra
    from torchvision.models import MobileNet_V2_Weights

    assert efficientnet.categories == tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])
    cat = efficientnet.classify(chelsea).best
    assert cat[0] in CAT_CLASSES and cat[1] > 0.3
    assert sum(p for name, p, _ in efficientnet.classify(chelsea).top(5) if name in CAT_CLASSES) > 0.9
    drink = efficientnet.classify(coffee).best
    assert drink[0] in {"espresso", "cup"} and drink[1] > 0.5


def test_efficientnet_lite_preprocessing_is_the_tensorflow_one(efficientnet, coffee):
    """(x − 127) / 128 on the TF-style crop makes the network clearly more confident than the ImageNet
    mean/std a torchvision model would use: the checkpoint's own convention."""
    from skimage import data

    means = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    stds = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    own, other = [], []
    for photo in (coffee, data.astronaut(), data.rocket()):
        x = efficientnet.preprocess(photo)
        assert x.shape == (1, 3, 224, 224) and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
        pixels = x * efficientnet.std + efficientnet.mean
        with torch.no_grad():
            own.append(torch.softmax(efficientnet.network(x), 1).max().item())
            other.append(torch.softmax(efficientnet.network((pixels - means) / stds), 1).max().item())
    assert np.mean(own) > np.mean(other) + 0.05, (own, other)


def test_parse_target(mobilenet, chelsea):
    subject = classifier_subject(mobilenet, chelsea, "MobileNetV2")
    assert parse_target("281", subject.categories) == 281
    assert parse_target("tabby", subject.categories) == 281
    assert parse_target("Egyptian", subject.categories) == 285
    assert parse_target("top1", subject.categories, subject.probabilities) == subject.default_target
    assert subject.categories[parse_target("top2", subject.categories, subject.probabilities)] in CAT_CLASSES
    with pytest.raises(Exception, match="several classes"):
        parse_target("cat", subject.categories)
    with pytest.raises(Exception, match="no class"):
        parse_target("unicorn", subject.categories)
    assert subject.image.shape == (224, 224, 3) and subject.image.dtype == np.uint8


@pytest.fixture(scope="module")
def smiling_face(require_ready):
    """The astronaut (Eileen Collins) smiles: her face crop, with MTCNN's landmarks in crop pixels."""
    require_ready("emotion")
    require_ready("mtcnn")
    from skimage import data

    image = data.astronaut()
    detector = registry.load_model("mtcnn", torch.device("cpu"))
    result = detector.run(image)
    crop, box, _ = face_crop(image, detector)
    largest = int(np.argmax((result.boxes[:, 2] - result.boxes[:, 0]) * (result.boxes[:, 3] - result.boxes[:, 1])))
    landmarks = result.landmarks[largest] - np.array(box[:2], dtype=np.float32)
    return crop, landmarks


def test_occluding_the_mouth_changes_happy_more_than_the_forehead(smiling_face):
    crop, landmarks = smiling_face
    emotion = registry.load_model("emotion", torch.device("cpu"))
    subject = classifier_subject(emotion, crop, "emotion")
    happy = subject.categories.index("happy")
    assert subject.default_target == happy
    result = attribute("occlusion", subject.model, subject.inputs, happy, patch=8, stride=4)
    scale = result.map.shape[0] / crop.shape[0]
    points = landmarks * scale  # eyes, nose, mouth corners in the 64×64 map
    mouth_y = int(round((points[3, 1] + points[4, 1]) / 2))
    mouth_x = slice(int(points[3, 0]), int(np.ceil(points[4, 0])) + 1)
    eye_y = (points[0, 1] + points[1, 1]) / 2
    forehead_y = int(round(eye_y - (mouth_y - eye_y) * 0.8))
    assert forehead_y >= 2
    mouth = result.map[mouth_y - 2:mouth_y + 3, mouth_x].mean()
    forehead = result.map[forehead_y - 2:forehead_y + 3, mouth_x].mean()
    assert mouth > forehead and mouth > 0, (mouth, forehead)


def test_emotion_lrp_conserves(smiling_face):
    crop, _ = smiling_face
    subject = classifier_subject(registry.load_model("emotion", torch.device("cpu")), crop)
    result = attribute("lrp_alpha_beta", subject.model, subject.inputs, 3, input_bounds=subject.input_bounds)
    assert result.conservation.ok, result.conservation.describe()


@pytest.mark.parametrize("name", ["nanodet", "centernet"])
def test_detection_score_subject(name, chelsea, require_ready):
    require_ready(name)
    detector = registry.load_model(name, torch.device("cpu"))
    detections = detector.detect(chelsea, score_threshold=0.3).sorted()
    assert len(detections) and detections.label_names[0] == "cat"
    subject = detection_subject(detector, chelsea, detections.boxes[0], int(detections.labels[0]), float(detections.scores[0]))
    with torch.no_grad():
        value = float(subject.model(subject.inputs)[0])
    assert value == pytest.approx(float(detections.scores[0]), abs=0.02)  # the scalar is that box's score
    result = attribute("input_x_gradient", subject.model, subject.inputs, None)
    assert result.map.shape == tuple(subject.inputs.shape[-2:]) and np.isfinite(result.map).all()


@pytest.mark.parametrize("name", ["nanodet", "centernet"])
@pytest.mark.parametrize("photo", ["chelsea", "astronaut", "coffee"])
def test_a_detection_boxs_default_map_is_not_empty_and_peaks_inside_the_box(name, photo, require_ready):
    """The default map (LayerCAM, no layer given) reads the head level the box came from (the
    motorcycle of the issue came from NanoDet's stride-32 grid while the old default layer sat on
    the stride-8 one, and gave an all-zero map)."""
    from skimage import data

    from cvdemo.colormaps import is_flat
    from cvdemo.explain.layers import layer_choices

    require_ready(name)
    image = getattr(data, photo)()
    detector = registry.load_model(name, torch.device("cpu"))
    detections = detector.detect(image, score_threshold=0.3).sorted()
    assert len(detections)
    for index in range(min(3, len(detections))):
        box, label = detections.boxes[index], int(detections.labels[index])
        subject = detection_subject(detector, image, box, label, float(detections.scores[index]))
        result = attribute(subject.first_method, subject.model, subject.inputs, None)
        assert not is_flat(result.map), (index, result.insight.layer)
        chosen = next(c for c in layer_choices(subject.model, subject.inputs, subject.head_grids)
                      if c.name == result.insight.layer)
        assert chosen.head and chosen.grid == subject.layer_grid
        assert chosen.label.startswith(f"stride {subject.inputs.shape[-1] // subject.layer_grid[0]} head, "
                                       f"{subject.layer_grid[0]}×{subject.layer_grid[1]}")
        _, letterbox = detector.preprocess(image)
        x1, y1, x2, y2 = (np.asarray(box) * letterbox.scale
                          + np.array([letterbox.pad_x, letterbox.pad_y, letterbox.pad_x, letterbox.pad_y]))
        row, col = np.unravel_index(np.argmax(result.map), result.map.shape)
        assert x1 <= col <= x2 and y1 <= row <= y2, (index, (row, col), (x1, y1, x2, y2))


def test_face_verification_distance_subject(require_ready):
    require_ready("dlib_resnet")
    chips = SHARED / "facedata" / "chips"
    if not chips.is_dir():
        pytest.skip("../shared/facedata is not present")
    from PIL import Image

    a = np.asarray(Image.open(chips / "obama_face0.png").convert("RGB"))
    b = np.asarray(Image.open(chips / "obama2_face0.png").convert("RGB"))
    subject = verification_subject(registry.load_model("dlib_resnet", torch.device("cpu")), a, b)
    assert subject.scalar
    with torch.no_grad():
        distance = -float(subject.model(subject.inputs)[0])  # the explained score is −distance (red: the same on both pages)
    assert 0.2 < distance < 0.6  # same person (dlib's golden distance for this pair is about 0.35)
    result = attribute("occlusion", subject.model, subject.inputs, None, patch=30, stride=30)
    assert result.map.shape == (150, 150) and np.isfinite(result.map).all()


def test_cascading_randomisation_decorrelates_gradients(mobilenet, chelsea_inputs):
    result = cascading_randomisation(mobilenet.network, chelsea_inputs, 285, ["saliency", "gradcam"], steps=3)
    assert [s.block for s in result.steps] == ["", "classifier.1", "features.18", "features.17"]
    assert all(c == pytest.approx(1.0) for c in result.steps[0].correlations.values())
    last = result.steps[-1].correlations
    assert last["gradcam"] < 0.9 and last["saliency"] < 0.9  # destroyed models give different maps
    assert not any(m._forward_hooks for m in mobilenet.network.modules())


def test_deletion_insertion_rank_a_real_map_above_a_random_one(mobilenet, chelsea_inputs):
    real = attribute("gradcam", mobilenet.network, chelsea_inputs, 285).map
    noise = np.random.default_rng(0).random(real.shape).astype(np.float32)
    good = deletion_insertion(mobilenet.network, chelsea_inputs, 285, real, steps=16)
    bad = deletion_insertion(mobilenet.network, chelsea_inputs, 285, noise, steps=16)
    assert good.deletion.scores[0] == pytest.approx(good.insertion.scores[-1], rel=1e-4)  # both: the full image
    assert good.score > bad.score
    assert spearman(real, real) == pytest.approx(1.0)
