"""Serving a lecture hall: the batched ``forward`` of each model behind Ray Serve.

* :mod:`cvdemo.serving.cluster` starts a Ray head on fixed loopback ports (or joins a cluster);
* :mod:`cvdemo.serving.deployment` runs one Serve deployment per model, batching the
  ``forward`` calls of many callers with ``@serve.batch``;
* :mod:`cvdemo.serving.client` hands out *served* models: the same wrapper, whose ``forward``
  sends the prepared tensor to the server (preparation and finishing stay with the caller);
* :mod:`cvdemo.serving.loadtest` simulates webcam streams against either back end.

Ray is an optional dependency (``requirements-serve.txt``); nothing here imports it at module
level, so the app runs without it.
"""

from __future__ import annotations

# Every model a live view or an upload uses, with the stages a server runs for it. MTCNN's
# P-Net sees a whole image pyramid per photo and stays with the caller; its R-Net and O-Net
# crops are what batches across photos.
SERVED_STAGES: dict[str, tuple[str, ...]] = {
    "nanodet": ("forward",),
    "centernet": ("forward",),
    "yolov3-tiny": ("forward",),
    "yolov3-tiny-320": ("forward",),
    "selfie": ("forward",),
    "meet": ("forward",),
    "mobilenet_v2": ("forward",),
    "efficientnet_lite0": ("forward",),
    "emotion": ("forward",),
    "dlib_resnet": ("forward",),
    "mtcnn": ("rnet_forward", "onet_forward"),
}


def app_name(model: str, stage: str) -> str:
    """The Serve application (one deployment) serving ``stage`` of ``model``."""
    suffix = "" if stage == "forward" else "-" + stage.removesuffix("_forward")
    return f"cvdemo-{model}{suffix}"


class ServingUnavailable(RuntimeError):
    """Ray is not installed, or the server cannot be reached."""


class FrameDropped(RuntimeError):
    """A live frame missed its deadline on the server; it is dropped, never queued."""
