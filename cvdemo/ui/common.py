"""Page scaffolding, shared model cache, model picker and image input."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Hashable, Iterable, Literal, Mapping, TypeVar

import numpy as np
import streamlit as st
import torch

from cvdemo import registry
from cvdemo.device import available_devices, configure_torch, describe_device, pick_device
from cvdemo.images import ImageLoadError, encode_png, load_image, size_note
from cvdemo.registry import ModelSpec, Task
from cvdemo.serving.client import serve_if_configured
from cvdemo.ui.pages import page_for
from cvdemo.ui.serving import serving_notice
from cvdemo.ui.prepare import readiness_note
from cvdemo.weights import Status, TorchvisionWeights, WeightsUnavailable

T = TypeVar("T")

DEVICE_KEY = "cvdemo_device"


def current_device() -> torch.device:
    choice = st.session_state.get(DEVICE_KEY)
    try:
        return pick_device(choice)
    except RuntimeError:
        return pick_device()


def _use_app_navigation() -> None:
    """Run this page through app.py's ``st.navigation``, never through the old ``pages/`` folder mode.

    Streamlit starts in its pages-folder mode whenever a ``pages/`` folder sits beside app.py, and
    only leaves it once app.py's ``st.navigation`` has run. When a server's first visitor opens a
    page by its link, Streamlit runs that page file directly and lists app.py in the sidebar as a
    page named "app". Leaving the mode and rerunning sends the same page through app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_setup(script: str, layout: Literal["centered", "wide"] = "wide") -> torch.device:
    """Page config plus the sidebar every page shares (the device picker); ``script`` is the page's ``__file__``."""
    _use_app_navigation()
    page = page_for(script)
    st.set_page_config(page_title=f"{page.title} · cvdemo", page_icon=page.icon, layout=layout)
    configure_torch()
    devices = available_devices()
    with st.sidebar:
        st.selectbox("Compute device", devices, key=DEVICE_KEY,
                     help="cvdemo picks CUDA, then Apple MPS, then the CPU. Set CVDEMO_DEVICE to change the default.")
        device = current_device()
        st.caption(f"Running on **{describe_device(device)}**" + (" · fp16 autocast" if device.type == "cuda" else ""))
        readiness_note(page.file)
    serving_notice()
    return device


@st.cache_resource(show_spinner=False, max_entries=24)
def _load_shared(name: str, device: str, fast: bool = False):
    # One instance per (model, device, back end) for the whole server: every session shares it,
    # so the wrappers never mutate themselves while predicting. Warmed once here, never per visitor.
    from cvdemo.bench import warm_up
    from cvdemo.fastpath import accelerate

    model = registry.load_model(name, torch.device(device))
    if fast:
        model = accelerate(model)
    warm_up(registry.get(name), model)
    return model


def preload_default_models(tasks: Iterable[Task] = (Task.DETECTION,)) -> None:
    """Load and warm the default model of ``tasks`` in the background, once per server process.

    Streamlit has no start-up hook, so app.py calls this on every run; only the first starts the
    thread, and a visitor who gets to a page before it finishes waits in ``cached_model`` as before.
    """
    global _preloading
    if _preloading is not None:
        return
    names = []
    for task in tasks:
        for pick in (registry.default_model, registry.default_live_model):  # uploads' and live video's
            try:
                name = pick(task).name
            except LookupError:
                continue
            if name not in names:
                names.append(name)
    device = str(pick_device())

    def load() -> None:
        for name in names:
            try:
                _load_shared(name, device, True)
            except Exception:  # the page that needs it says why when it loads it
                pass

    # Not a daemon, explicitly (a new thread inherits the daemon flag of Streamlit's script thread):
    # torch work cut off by interpreter shutdown aborts the process; exit waits for it instead.
    _preloading = threading.Thread(target=load, name="cvdemo-preload", daemon=False)
    _preloading.start()


_preloading: threading.Thread | None = None


def cached_model(name: str, fast: bool = False):
    """The shared instance of a registry model; a model that fails to load stops the page with a message.

    ``fast``: an instance whose network runs through :mod:`cvdemo.fastpath` (ONNX Runtime or TorchScript on the
    CPU), for inference-only paths (uploads, live video); explanations need the eager one.
    """
    spec = registry.get(name)
    try:
        with st.spinner(f"Loading {spec.title}…"):
            # with $CVDEMO_SERVE, a copy whose batch stages run on the inference server
            return serve_if_configured(_load_shared(name, str(current_device()), fast), name)
    except Exception as exc:  # a truncated or foreign weights file, a broken install: say so, keep the app
        st.error(f"Could not load {spec.title}: {exc}")
        st.stop()


def _label(spec: ModelSpec) -> str:
    state = spec.status().status
    badge = {Status.READY: "", Status.DOWNLOADABLE: "  ·  download needed", Status.MISSING: "  ·  missing",
             Status.CORRUPT: "  ·  corrupt file"}[state]
    family = f" — {spec.family}" if spec.family else ""
    return f"{spec.title}{family}{badge}"


def model_picker(tasks: Task | Iterable[Task], key: str, label: str = "Model", *,
                 only: Iterable[str] | None = None, default: str | None = None,
                 predicate=None) -> ModelSpec | None:
    """A selectbox of registry models. Returns the spec when its weights are ready.

    For a model that is not ready it explains why and offers the download (torchvision zoo)
    or the command that fixes it, and returns None.
    """
    tasks = (tasks,) if isinstance(tasks, Task) else tuple(tasks)
    specs = [s for t in tasks for s in registry.all_models(t)]
    if only is not None:
        wanted = list(only)
        specs = [s for s in specs if s.name in wanted]
    if predicate is not None:
        specs = [s for s in specs if predicate(s)]
    if not specs:
        st.warning("No model of this kind is registered.")
        return None
    specs.sort(key=lambda s: (not s.ready, s.offline_rank, s.name))
    names = [s.name for s in specs]
    index = names.index(default) if default in names else 0
    chosen_name = st.selectbox(label, names, index=index, key=key,
                               format_func=lambda n: _label(registry.get(n)))
    spec = registry.get(chosen_name)
    if spec.description:
        st.caption(spec.description)
    state = spec.status()
    if state.status is Status.READY:
        return spec
    if state.status is Status.DOWNLOADABLE:
        st.info(f"**{spec.title}** needs weights from the torchvision zoo ({state.where}). "
                f"This needs internet; offline, pick a model marked ready. Command line: `{state.action}`")
        if not downloads_allowed():
            st.caption("Downloads from the app are off on this server; whoever runs it can fetch the weights "
                       "with the command above (or allow app downloads with CVDEMO_ALLOW_DOWNLOADS=1).")
        elif st.button(f"Download {spec.title} weights", key=f"{key}_download"):
            try:
                with st.spinner("Downloading…"):
                    for source in spec.weights:
                        if isinstance(source, TorchvisionWeights):
                            source.fetch(progress=False)
                st.rerun()
            except WeightsUnavailable as exc:
                st.error(str(exc))
    elif state.status is Status.CORRUPT:
        st.error(f"**{spec.title}** is not loaded: {state.where}. To fix: `{state.action}`")
    else:
        st.warning(f"**{spec.title}** is missing: {state.where}. To fix: `{state.action}`")
    return None


def downloads_allowed() -> bool:
    """Whether visitors may start torchvision-zoo downloads (hundreds of MB each) from the app.

    $CVDEMO_ALLOW_DOWNLOADS=1 or 0 decides; unset, only a server that listens on loopback allows
    them, since its visitors are the person running it. The command line always may.
    """
    choice = os.environ.get("CVDEMO_ALLOW_DOWNLOADS", "").strip().lower()
    if choice:
        return choice in ("1", "true", "yes", "on")
    address = st.get_option("server.address") or ""
    return address in ("127.0.0.1", "localhost", "::1")


SAMPLE_PHOTOS = {
    "astronaut (Eileen Collins)": "astronaut",
    "cat (Chelsea)": "chelsea",
    "coffee cup": "coffee",
    "rocket": "rocket",
    "cameraman": "camera",
    "horse (silhouette)": "horse",
}


@st.cache_data(show_spinner=False)
def sample_photo(name: str) -> np.ndarray:
    from skimage import data

    return load_image(np.asarray(getattr(data, SAMPLE_PHOTOS[name])()))


DECODED_UPLOADS_BYTES = 320 << 20  # per session: two photos at the 50 MP cap, or many ordinary ones


def decode_upload(data: bytes, name: str) -> np.ndarray:
    """An uploaded or snapshot file's bytes → RGB uint8 (read-only), decoded once per content.

    Kept in this browser session only, most recently used first, within
    :data:`DECODED_UPLOADS_BYTES` (the newest picture always stays): a server-wide cache let one
    visitor pin gigabytes of full-resolution pixels for everyone, long after leaving.
    """
    cache: dict[bytes, np.ndarray] = st.session_state.setdefault("_decoded_uploads", {})
    key = hashlib.blake2b(data, digest_size=16).digest()
    if key in cache:
        cache[key] = cache.pop(key)
        return cache[key]
    image = load_image(data, name=name)
    image.flags.writeable = False  # every rerun gets this same array
    cache[key] = image
    held = sum(array.nbytes for array in cache.values())
    while held > DECODED_UPLOADS_BYTES and len(cache) > 1:
        held -= cache.pop(next(iter(cache))).nbytes
    return image


Samples = Mapping[str, Callable[[], np.ndarray]]  # a sample photo's name → its RGB pixels


def _scikit_image_samples() -> Samples:
    return {name: partial(sample_photo, name) for name in SAMPLE_PHOTOS if _sample_available(name)}


def image_input(key: str, label: str = "Image", *, sources=("Upload", "Webcam snapshot", "Sample photo"),
                default_sample: str = "astronaut (Eileen Collins)", samples: Samples | None = None,
                upload_label: str = "Upload an image (PNG, JPEG, GIF, BMP, TIFF, WebP)",
                sample_label: str = "Sample photo (shipped with scikit-image)") -> tuple[np.ndarray, str] | None:
    """Upload, webcam snapshot or a sample photo (scikit-image's, or ``samples``) → (RGB uint8
    array, name), or None.

    Bad files show the loader's message and return None, so the page keeps running.
    """
    source = st.radio(label, list(sources), key=f"{key}_source", horizontal=True,
                      index=list(sources).index("Sample photo") if "Sample photo" in sources else 0)
    try:
        if source == "Upload":
            st.file_uploader(upload_label, key=f"{key}_file")
        elif source == "Webcam snapshot":
            st.camera_input("Take a picture", key=f"{key}_camera",
                            help="Your browser asks for camera permission; if you denied it, re-allow it in the site settings.")
        else:
            samples = _scikit_image_samples() if samples is None else samples
            names = list(samples)
            st.selectbox(sample_label, names, key=f"{key}_sample",
                         index=names.index(default_sample) if default_sample in names else 0)
        picked = current_image(key, samples)
    except ImageLoadError as exc:
        st.error(f"Could not use this image: {plain(exc)}")
        return None
    note = None if picked is None else size_note(*picked)
    if note:
        st.warning(plain(note))
    return picked


def current_image(key: str, samples: Samples | None = None) -> tuple[np.ndarray, str] | None:
    """The picture the :func:`image_input` of ``key`` holds now, without drawing its widgets.

    Raises :class:`ImageLoadError` for a file that is not a readable image.
    """
    source = st.session_state.get(f"{key}_source")
    if source == "Upload":
        uploaded = st.session_state.get(f"{key}_file")
        return None if uploaded is None else (decode_upload(uploaded.getvalue(), uploaded.name), uploaded.name)
    if source == "Webcam snapshot":
        shot = st.session_state.get(f"{key}_camera")
        return None if shot is None else (decode_upload(shot.getvalue(), "webcam snapshot"), "webcam snapshot")
    name = st.session_state.get(f"{key}_sample")
    if source != "Sample photo" or name is None:
        return None
    samples = _scikit_image_samples() if samples is None else samples
    return (samples[name](), name) if name in samples else None


@st.cache_data(show_spinner=False)
def _sample_available(name: str) -> bool:
    try:
        sample_photo(name)
        return True
    except Exception:  # a sample scikit-image would have to download
        return False


def bounded_slider(container, label: str, low: int, high: int, value: int, key: str, **options) -> int:
    """An integer slider, or ``low`` (and no slider) when the range has one value: Streamlit
    refuses sliders whose minimum equals their maximum, e.g. "left edge" when the square is
    as wide as the photo."""
    if high <= low:
        return low
    return int(container.slider(label, low, high, min(max(value, low), high), key=key, **options))


def download_stem(name: str) -> str:
    """An uploaded file's name without extension, safe as the start of a download's file name."""
    stem = Path(name).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "image"


def download_png(image: np.ndarray, filename: str, label: str = "Download PNG", key: str | None = None) -> None:
    st.download_button(label, data=encode_png(image), file_name=filename, mime="image/png", key=key)


def show_error(exc: BaseException) -> None:
    st.error(plain(exc) or exc.__class__.__name__)


_MARKDOWN_ACTIVE = str.maketrans({**{c: "\\" + c for c in "\\`*_{}[]<>#+-!|$~"}, "\n": " ", "\r": " "})


def plain(text) -> str:
    """``text`` (a file or person name, a message quoting one) escaped so that Streamlit's Markdown
    shows it as typed: an upload named ``![x](http://host/)`` must not make the browser fetch it."""
    return str(text).translate(_MARKDOWN_ACTIVE)


def image_digest(image: np.ndarray) -> str:
    """A cheap key for caching per-image results in session state."""
    return hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=12).hexdigest() + f"{image.shape}"


@dataclass(frozen=True)
class SessionMemo:
    """Results computed once per key, the last ``size`` of them kept in this browser session.

    For per-user results (a map for this photo and these settings) that st.cache_data would
    share across users and pickle on every call. A page module declares one per kind of result,
    ``remember = SessionMemo("gan", size=16)``, and calls ``remember(key, compute)``.
    """

    namespace: str
    size: int = 8

    def _store(self) -> dict:
        return st.session_state.setdefault(f"_memo_{self.namespace}", {})

    def __call__(self, key: Hashable, compute: Callable[[], T]) -> T:
        cache = self._store()
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last: evicted last
        else:
            cache[key] = compute()
            while len(cache) > self.size:
                cache.pop(next(iter(cache)))
        return cache[key]

    def holds(self, key: Hashable) -> bool:
        """Whether ``key`` is kept (e.g. to show a result without its button again)."""
        return key in st.session_state.get(f"_memo_{self.namespace}", {})


def session_memo(namespace: str, key: Hashable, compute: Callable[[], T], size: int = 8) -> T:
    """``SessionMemo(namespace, size)(key, compute)``, for a one-off call site."""
    return SessionMemo(namespace, size)(key, compute)


def in_session_memo(namespace: str, key: Hashable) -> bool:
    return SessionMemo(namespace).holds(key)


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``1 person``, ``2 people``, ``0 photos``: a count with its noun in the right number."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"
