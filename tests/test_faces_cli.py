"""``python -m cvdemo verify`` and ``embed``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from cvdemo.cli import main
from cvdemo.faces import samples


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faces")
    paths = {}
    for key, name in {"astronaut": "astronaut (Eileen Collins)", "dark": "astronaut, half as bright", "camera": "cameraman",
                      "two": "astronaut and cameraman (two faces)", "coffee": "coffee cup (no face)"}.items():
        paths[key] = folder / f"{key}.png"
        Image.fromarray(samples.sample(name)).save(paths[key])
    return paths


def test_verify_same_person(photos, capsys):
    assert main(["verify", str(photos["astronaut"]), str(photos["dark"])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["faces_a"] == 1 and out["faces_b"] == 1 and out["same"] is True and 0 <= out["distance"] < 0.6


def test_verify_different_people_and_threshold(photos, capsys):
    assert main(["verify", str(photos["astronaut"]), str(photos["camera"]), "--threshold", "0.6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["same"] is False and out["distance"] > 0.6
    assert main(["verify", str(photos["astronaut"]), str(photos["camera"]), "--threshold", str(out["distance"] + 0.01)]) == 0
    assert json.loads(capsys.readouterr().out)["same"] is True


def test_verify_several_faces_uses_the_largest_and_warns(photos, capsys):
    assert main(["verify", str(photos["two"]), str(photos["astronaut"])]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["faces_a"] == 2 and out["same"] is True  # the astronaut's face is the larger one
    assert "2 faces found" in captured.err


def test_no_face_is_one_clear_line_and_nonzero(photos, capsys):
    assert main(["verify", str(photos["astronaut"]), str(photos["coffee"])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "No face found in" in lines[0] and "coffee.png" in lines[0]


def test_bad_threshold_and_missing_file(photos, capsys):
    assert main(["verify", str(photos["astronaut"]), str(photos["dark"]), "--threshold", "-1"]) == 2
    assert "--threshold" in capsys.readouterr().err
    assert main(["verify", "missing.jpg", str(photos["dark"])]) == 2
    assert "no such file" in capsys.readouterr().err


def test_embed_prints_boxes_and_descriptors(photos, capsys):
    assert main(["embed", str(photos["two"]), str(photos["astronaut"])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [len(item["faces"]) for item in out] == [2, 1]
    face = out[1]["faces"][0]
    assert len(face["box"]) == 4 and len(face["descriptor"]) == 128 and len(face["landmarks"]) == 5
    assert face["alignment"] == "dlib 5-point landmarks" and len(face["dlib_landmarks"]) == 5
    assert out[0]["faces"][0]["box"][0] < out[0]["faces"][1]["box"][0]  # left to right


def test_embed_no_face_exits_nonzero(photos, capsys):
    assert main(["embed", str(photos["coffee"])]) == 2
    assert "No face found" in capsys.readouterr().err


def test_module_entry_point(photos):
    result = subprocess.run([sys.executable, "-m", "cvdemo", "verify", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--threshold" in result.stdout
