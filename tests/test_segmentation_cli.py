"""``python -m cvdemo segment``: files, JSON and errors, with the best segmenter ready offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvdemo import registry
from cvdemo.registry import Task
from tests.conftest import CliRun


def one_line_error(result: CliRun) -> str:
    assert result.returncode == 2, result
    message = result.stderr.strip()
    assert message.startswith("cvdemo segment: error:") and "\n" not in message, message
    return message


@pytest.fixture(scope="module")
def default_segmenter():
    try:
        return registry.default_model(Task.SEMANTIC_SEGMENTATION)
    except LookupError:
        pytest.skip("no semantic segmentation model is ready offline: run `python -m cvdemo weights fetch-pack human-models` "
                    "(or fetch a torchvision one online)")


def test_segment_writes_mask_and_overlay_and_finds_the_astronaut(default_segmenter, astronaut_png, tmp_path, cli):
    out = tmp_path / "out"
    result = cli("segment", str(astronaut_png), "--out", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["image"] == str(astronaut_png) and payload["model"] == default_segmenter.name
    classes = payload["classes"]
    assert set(classes) == set(default_segmenter.categories)
    assert sum(classes.values()) == pytest.approx(1.0, abs=1e-4)
    # Eileen Collins fills a good part of the photo: a working person segmenter must see her.
    assert 0.1 < classes["person"] < 0.9
    mask = np.asarray(Image.open(payload["mask"]))
    assert mask.shape == (512, 512) and Image.open(payload["mask"]).mode == "P"
    person = default_segmenter.categories.index("person")
    assert (mask == person).mean() == pytest.approx(classes["person"], abs=1e-4)
    assert mask[100:300, 180:330].mean() > 0  # the face and shoulders are not background
    overlay = np.asarray(Image.open(payload["overlay"]).convert("RGB"))
    assert overlay.shape == (512, 512, 3)
    differs = np.any(overlay != np.asarray(Image.open(astronaut_png).convert("RGB")), axis=2)
    np.testing.assert_array_equal(differs, mask == person)  # only the person is painted


def test_several_images_give_a_list_and_same_names_do_not_collide(default_segmenter, astronaut_png, tmp_path, cli):
    twin_dir = tmp_path / "twin"
    twin_dir.mkdir()
    twin = twin_dir / "astronaut.png"
    twin.write_bytes(astronaut_png.read_bytes())
    result = cli("segment", str(astronaut_png), str(twin), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [p["image"] for p in payload] == [str(astronaut_png), str(twin)]
    assert len({p["mask"] for p in payload}) == 2 and all(Path(p["mask"]).is_file() for p in payload)


def test_missing_and_broken_files_fail_with_one_line(tmp_path, cli):
    assert "no such file" in one_line_error(cli("segment", str(tmp_path / "nope.png")))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert "broken.png" in one_line_error(cli("segment", str(broken)))


def test_wrong_model_kind_and_unknown_model_fail_with_one_line(astronaut_png, cli):
    assert "semantic segmentation" in one_line_error(cli("segment", str(astronaut_png), "--model", "mobilenet_v2"))
    assert "no_such_model" in one_line_error(cli("segment", str(astronaut_png), "--model", "no_such_model"))
    assert "--opacity" in one_line_error(cli("segment", str(astronaut_png), "--opacity", "2"))


def test_model_needing_a_download_says_how_to_get_it(astronaut_png, cli):
    spec = registry.get("fcn-resnet50")
    if spec.ready:
        pytest.skip("fcn-resnet50 is already downloaded here")
    message = one_line_error(cli("segment", str(astronaut_png), "--model", "fcn-resnet50"))
    assert "weights fetch" in message
