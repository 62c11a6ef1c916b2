"""Latencies the app shows are warm and, side by side, measured in turns on the same picture."""

from __future__ import annotations

from cvdemo import registry
from cvdemo.detection.pipeline import LATENCY_RUNS, timed_detect_together


class _Recorded:
    """A real detector whose calls are logged, to see the order they come in."""

    def __init__(self, name: str, log: list):
        self.detector, self.name, self.log = registry.load_model(name, "cpu"), name, log
        self.device = self.detector.device

    def detect(self, image, score_threshold=0.3):
        self.log.append(self.name)
        return self.detector.detect(image, score_threshold=score_threshold)


def test_side_by_side_warms_each_model_then_times_them_in_turns(require_ready, astronaut):
    require_ready("nanodet")
    require_ready("yolov3-tiny-320")
    log: list[str] = []
    a, b = _Recorded("nanodet", log), _Recorded("yolov3-tiny-320", log)
    timed = timed_detect_together([a, b], astronaut)
    # one warm-up call each (its result is the one shown), then A, B, A, B, …
    assert log == ["nanodet", "yolov3-tiny-320"] + ["nanodet", "yolov3-tiny-320"] * LATENCY_RUNS
    assert [t.detections.label_names[:1] for t in timed] == [["person"], ["person"]]
    assert all(t.latency_ms > 0 for t in timed)
