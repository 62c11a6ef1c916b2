"""Segment a photo and keep what a user takes away: the class-index mask, the overlay, the shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cvdemo.images import encode_png
from cvdemo.results import SemanticMask
from cvdemo.segmentation.overlay import class_colours, indexed_png, legend, overlay_classes, visible_mask


@dataclass
class Segmented:
    mask: SemanticMask
    colours: np.ndarray  # (C, 3) uint8, one per category
    overlay: np.ndarray  # RGB uint8, background left unpainted

    def legend(self) -> list[dict]:
        return legend(self.mask, self.colours)


def segment(model: Any, image: np.ndarray, opacity: float = 0.6) -> Segmented:
    mask = model.segment(image)
    colours = class_colours(mask.categories)
    overlay = overlay_classes(image, mask.classes, colours, opacity=opacity, visible=visible_mask(mask.categories))
    return Segmented(mask, colours, overlay)


def _free_stem(directory: Path, stem: str, taken: set[str]) -> str:
    candidate, number = stem, 2
    while candidate in taken:
        candidate, number = f"{stem}-{number}", number + 1
    taken.add(candidate)
    return candidate


def segment_to_files(model: Any, image: np.ndarray, source: str, out_dir: Path, *, model_name: str = "",
                     opacity: float = 0.6, taken: set[str] | None = None) -> dict:
    """Write ``STEM.mask.png`` and ``STEM.overlay.png`` into ``out_dir``; return the JSON record.

    ``taken`` collects the stems already written in this run, so two ``photo.jpg`` from different
    folders sent to one ``--out`` do not overwrite each other.
    """
    result = segment(model, image, opacity)
    stem = _free_stem(out_dir, Path(source).stem, taken if taken is not None else set())
    mask_path = out_dir / f"{stem}.mask.png"
    overlay_path = out_dir / f"{stem}.overlay.png"
    mask_path.write_bytes(indexed_png(result.mask.classes, result.colours))
    overlay_path.write_bytes(encode_png(result.overlay))
    height, width = image.shape[:2]
    return {
        "image": source,
        "model": model_name,
        "size": [width, height],
        "mask": str(mask_path),
        "overlay": str(overlay_path),
        "classes": {name: round(fraction, 6) for name, fraction in result.mask.pixel_fractions().items()},
    }


def live_default(specs: list) -> str | None:
    """The live tab's default among ready semantic models: the person segmenter with the smallest
    network input (fewest pixels → most frames per second), else the first ready one."""
    if not specs:
        return None
    people = [s for s in specs if "person" in s.categories and s.input_size]
    if people:
        return min(people, key=lambda s: (s.input_size[0] * s.input_size[1], s.offline_rank)).name
    return specs[0].name
