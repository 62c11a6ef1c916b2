"""What every detection view starts from: the sidebar's detector, threshold, classes and picture,
and detections of a picture with warm latencies. Apart from :mod:`cvdemo.ui.detection` so that the
lecture views beside it (two-stage, YOLO v1) can build on it without importing the page."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import streamlit as st

from cvdemo.detection.pipeline import DETECTION_FLOOR, LATENCY_RUNS, TimedDetections, class_names, timed_detect_together
from cvdemo.registry import ModelSpec, Task
from cvdemo.serving.client import ENV_ADDRESS
from cvdemo.ui.common import cached_model, current_device, image_digest, image_input, model_picker


@dataclass
class Settings:
    spec: ModelSpec | None
    threshold: float
    classes: list[str]
    picture: tuple[np.ndarray, str] | None


def sidebar_settings() -> Settings:
    with st.sidebar:
        st.subheader("Detector")
        spec = model_picker(Task.DETECTION, key="det_model", label="Detector")
        threshold = st.slider("Score threshold", DETECTION_FLOOR, 0.95, 0.3, 0.05, key="det_threshold",
                              help="Boxes scoring below this are hidden. Moving it never reruns the model.")
        names = class_names(spec.categories) if spec else []
        vocabulary = hashlib.blake2b("|".join(names).encode(), digest_size=6).hexdigest()  # same classes, same filter
        classes = st.multiselect("Only these classes", names, key=f"det_classes_{vocabulary}", placeholder="all classes")
        st.divider()
        picture = image_input("det_picture", "Picture for the analysis tabs")
    return Settings(spec, float(threshold), list(classes), picture)


LATENCY_LABEL = f"warm: median of {LATENCY_RUNS} runs after a first one"


@st.cache_resource(max_entries=16, show_spinner=False)
def _detect_cached(names: tuple[str, ...], device: str, served_by: str, digest: str, _detectors,
                   _image: np.ndarray) -> list[TimedDetections]:
    # Shared across sessions: a result depends only on (models, device, where they run, picture), and
    # its latency is warm, so a later visitor sees the same figure a fresh measurement would give.
    return timed_detect_together(list(_detectors), _image)


def detections_for(spec: ModelSpec, image: np.ndarray) -> TimedDetections:
    return detections_together([spec], image)[0]


def detections_together(specs: list[ModelSpec], image: np.ndarray) -> list[TimedDetections]:
    """Detections of each model on ``image``, their latencies measured in turns at the same time."""
    detectors = [cached_model(spec.name, fast=True) for spec in specs]
    with st.spinner("Running " + " and ".join(spec.title for spec in specs) + f" ({LATENCY_LABEL})…"):
        return _detect_cached(tuple(s.name for s in specs), str(current_device()), os.environ.get(ENV_ADDRESS, ""),
                              image_digest(image), detectors, image)
