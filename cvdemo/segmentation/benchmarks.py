"""Per-frame cost of the segmentation page's live path, for ``python -m cvdemo bench``.

A live frame is the model *and* the drawing: segment a 640×480 webcam-sized photo, then the
colour overlay or the person background effect. The drawing-only cases show how much of the
frame budget (66 ms for the 15 FPS target) the overlay itself takes.
"""

from __future__ import annotations

import numpy as np
import torch

from cvdemo.bench import BenchResult, measure, sample_frame
from cvdemo.registry import Task, ready_models
from cvdemo.results import InstanceMasks, SemanticMask
from cvdemo.segmentation.overlay import (background_effect, class_colours, foreground_probability, overlay_classes,
                                         overlay_instances, visible_mask, VOC_CLASSES)

TARGET_NOTE = "target ≥ 15 FPS for the live default"


def _synthetic_voc_mask(frame: np.ndarray) -> SemanticMask:
    """Class regions with realistic borders for timing the drawing: the photo's colour quantised
    to VOC indices (the drawing cost depends on the border length, not on what the classes mean)."""
    grey = frame.mean(axis=2)
    classes = (grey / 256 * len(VOC_CLASSES)).astype(np.uint8)
    probabilities = np.zeros((2,) + classes.shape, dtype=np.float32)
    probabilities[1] = (classes > 7).astype(np.float32)
    probabilities[0] = 1 - probabilities[1]
    return SemanticMask(classes, VOC_CLASSES, probabilities)


def drawing_cases(device: torch.device, runs: int) -> list[BenchResult]:
    frame = sample_frame()
    mask = _synthetic_voc_mask(frame)
    colours = class_colours(mask.categories)
    shown = visible_mask(mask.categories)
    assert mask.probabilities is not None  # the synthetic mask always carries probabilities
    person = mask.probabilities[1]
    results = [
        measure("draw: colour overlay 640×480", "overlay", lambda: overlay_classes(frame, mask.classes, colours, opacity=0.6, visible=shown), device, runs),
        measure("draw: outlines 640×480", "overlay", lambda: overlay_classes(frame, mask.classes, colours, visible=shown, outline_only=True), device, runs),
        measure("draw: background blur 640×480", "overlay", lambda: background_effect(frame, person, "blur"), device, runs),
        measure("draw: background replace 640×480", "overlay", lambda: background_effect(frame, person, "replace"), device, runs),
    ]
    height, width = frame.shape[:2]
    masks = np.zeros((8, height, width), dtype=bool)
    boxes = []
    for i in range(8):
        y, x = 40 + 40 * (i % 4), 40 + 70 * i
        masks[i, y:y + 200, x:x + 120] = True
        boxes.append([x, y, x + 120, y + 200])
    instances = InstanceMasks(np.array(boxes, np.float32), np.linspace(0.9, 0.5, 8), np.ones(8, np.int64), ("bg", "person"),
                              (height, width), masks=masks)
    results.append(measure("draw: 8 instances 640×480", "overlay", lambda: overlay_instances(frame, instances), device, runs))
    return results


def live_frame_cases(device: torch.device, runs: int) -> list[BenchResult]:
    frame = sample_frame()
    results = []
    for spec in ready_models(Task.SEMANTIC_SEGMENTATION):
        model = spec.build(device)
        colours = class_colours(model.categories)
        shown = visible_mask(model.categories)

        def overlay_frame(model=model, colours=colours, shown=shown):
            mask = model.segment(frame)
            return overlay_classes(frame, mask.classes, colours, opacity=0.6, visible=shown)

        results.append(measure("live frame 640×480: segment + overlay", spec.name, overlay_frame, device, runs, TARGET_NOTE))
        if "person" in model.categories:
            def blur_frame(model=model):
                mask = model.segment(frame)
                return background_effect(frame, foreground_probability(mask), "blur")

            results.append(measure("live frame 640×480: segment + background blur", spec.name, blur_frame, device, runs, TARGET_NOTE))
    return results


CASES = [drawing_cases, live_frame_cases]
