"""Lecture mode: a cap on live streams, each stream's share of frames and pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvdemo.serving.lecture import STALE_AFTER_S, STREAMS, FrameGate, StreamLimits, StreamSlots

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_viewer_n_plus_one_gets_no_slot_until_one_is_freed_or_goes_stale():
    clock = Clock()
    slots = StreamSlots(clock)
    assert slots.hold("a", 2) and slots.hold("b", 2)
    assert not slots.has_room("c", 2) and not slots.hold("c", 2)
    assert slots.hold("a", 2)  # a stream that plays on keeps its slot
    slots.release("b")
    assert slots.hold("c", 2) and slots.active() == 2
    clock.now += STALE_AFTER_S + 1  # both pages stopped refreshing: closed tabs
    assert slots.active() == 0 and slots.hold("d", 2)
    assert StreamSlots(clock).hold("anyone", None)  # no cap set: no limit


def test_a_camera_faster_than_the_cap_is_thinned_to_it():
    clock = Clock()
    gate = FrameGate(StreamLimits(fps=10.0), clock)
    admitted = 0
    for _ in range(300):  # 10 s of a 30 FPS camera
        admitted += gate.admit()
        clock.now += 1 / 30
    assert admitted == pytest.approx(100, abs=2)


def test_a_camera_at_the_cap_with_jitter_loses_no_frame():
    clock = Clock()
    gate = FrameGate(StreamLimits(fps=10.0), clock)
    rng = np.random.default_rng(0)
    admitted = 0
    for _ in range(100):
        admitted += gate.admit()
        clock.now += 0.1 + rng.uniform(-0.005, 0.005)
    assert admitted == 100


def test_wide_frames_are_shrunk_to_the_width_cap_keeping_the_aspect(astronaut):
    gate = FrameGate(StreamLimits(width=320))
    frame = np.ascontiguousarray(np.concatenate([astronaut, astronaut], axis=1))  # 512×1024
    small = gate.shrink(frame)
    assert small.shape == (160, 320, 3)
    assert gate.shrink(small) is small


def test_limits_come_from_the_environment_and_bad_values_say_which(monkeypatch):
    monkeypatch.setenv("CVDEMO_MAX_STREAMS", "12")
    monkeypatch.setenv("CVDEMO_STREAM_WIDTH", "480")
    monkeypatch.setenv("CVDEMO_STREAM_FPS", "10")
    limits = StreamLimits.from_env()
    assert (limits.max_streams, limits.width, limits.fps) == (12, 480, 10.0)
    video = limits.media_constraints()["video"]
    assert video["width"]["max"] == 480 and video["frameRate"]["max"] == 10.0
    monkeypatch.setenv("CVDEMO_MAX_STREAMS", "many")
    with pytest.raises(ValueError, match="CVDEMO_MAX_STREAMS"):
        StreamLimits.from_env()


@pytest.mark.page
def test_the_viewer_over_the_cap_is_told_and_gets_snapshot_mode(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CVDEMO_MAX_STREAMS", "1")
    STREAMS.hold("another-viewer:det_live", 1)
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "1_Detection.py"), default_timeout=600)
        at.session_state["det_tab"] = "🎥 Live webcam"
        at.run()
        assert not at.exception, at.exception
        assert any("live streams of this lecture are in use" in w.value for w in at.warning)
        assert len(at.get("camera_input")) == 1  # Snapshot mode instead
    finally:
        STREAMS.release("another-viewer:det_live")
