"""The home page and the foundation's command line."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.mark.page
def test_home_renders_with_device_and_model_table():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert "cvdemo" in at.title[0].value
    ready = at.dataframe[0].value  # ready models first, in a table of their own
    assert {"model", "task", "size (MB)", "weights from"} <= set(ready.columns)
    assert "MobileNetV2 (ImageNet)" in set(ready["model"])
    for frame in at.dataframe:  # an unknown size or a ready model's missing command is blank, never "None"
        assert not frame.value.isna().any().any() and "None" not in frame.value.astype(str).values
    if len(at.dataframe) > 1:
        downloadable = at.dataframe[1].value
        assert all("weights fetch" in action for action in downloadable["to make it ready"])
    assert any(b.label == "Prepare for class" for b in at.button)
    assert any("Running on" in c.value for c in at.sidebar.caption)
    cards = {link.label for link in at.get("page_link")}  # one card per feature page, in a 3-column grid
    assert cards == {"Detection", "Segmentation", "Face verification", "GAN faces", "Explainability", "Architectures"}


def test_every_page_file_is_in_the_navigation_with_a_title_and_an_icon():
    from cvdemo.ui.pages import ALL

    assert sorted(page.file for page in ALL) == sorted(path.name for path in (ROOT / "pages").glob("*.py"))
    assert all(page.path.exists() and page.title and page.icon for page in ALL)


def test_cli_weights_table_lists_ready_and_downloadable_models(cli):
    result = cli("weights", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["mobilenet_v2"]["status"] == "ready"
    assert rows["resnet50"]["status"] in ("downloadable", "ready")


def test_cli_bench_prints_real_figures_for_a_ready_model(cli):
    result = cli("bench", "mobilenet_v2", "--runs", "2", "--no-extra", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["machine"]["cores"] >= 1
    (row,) = [r for r in payload["results"] if r["model"] == "mobilenet_v2"]
    assert row["median_ms"] > 0 and row["fps"] > 0 and row["peak_memory_mb"] > 0


def test_cli_bench_races_the_back_ends_in_turns(cli, require_ready):
    require_ready("meet")
    result = cli("bench", "meet", "--runs", "3", "--cases", "backend", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["case"]: r for r in json.loads(result.stdout)["results"]}
    assert set(rows) == {f"network alone, {b}, {c}" for b in ("eager", "onnxruntime", "torchscript")
                         for c in ("quiet", "busy thread")}  # only that case, only that model
    for condition in ("quiet", "busy thread"):
        eager = rows[f"network alone, eager, {condition}"]["median_ms"]
        ort = rows[f"network alone, onnxruntime, {condition}"]
        ratio = float(ort["note"].split(" × eager")[0])
        assert abs(ratio - ort["median_ms"] / eager) < 0.01  # the medians are printed rounded to 0.01 ms
        assert float(ort["note"].split("vs eager ")[1]) < 1e-2  # meet's logits reach ~33: 1e-4 relative


def test_cli_unknown_model_fails_with_one_clear_line(cli):
    result = cli("weights", "fetch", "no_such_model")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no_such_model" in result.stderr


def test_cli_help_documents_subcommands(cli):
    result = cli("--help")
    assert result.returncode == 0
    assert "weights" in result.stdout and "bench" in result.stdout
