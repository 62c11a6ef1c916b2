"""Hostile and degenerate inputs from the issue-15 probe: each is refused with a clear message,
costs the server no more than it must, and leaves the app (or the CLI's promise) intact."""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

from cvdemo.faces.gallery import MAX_ENTRIES, Gallery, GalleryError

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- gallery import


def _zip64(members: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A ZIP archive of already deflated members: name → (deflated bytes, declared size, crc32).

    Written by hand because zipfile can only store what it compresses itself, and a bomb's
    50 GB of zeros would take minutes to compress.
    """
    out, central = bytearray(), bytearray()
    for name, (deflated, size, crc) in members.items():
        encoded = name.encode()
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, size, len(deflated))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(encoded), len(extra)) + encoded + extra + deflated
        extra = struct.pack("<HHQQQ", 1, 24, size, len(deflated), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(encoded), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + encoded + extra
    start = len(out)
    out += central
    end64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(members), len(members), len(central), start)
    out += struct.pack("<IIQI", 0x07064B50, 0, end64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _deflated(payload: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(payload) + compressor.flush(), len(payload), zlib.crc32(payload)


def gallery_bomb(compressed_bytes: int, *, names_shape=(1,), lie_in_header: bool = False) -> bytes:
    """A gallery .npz of about ``compressed_bytes`` whose descriptors inflate to ~1000× that.

    The zeros are one deflated 64 MiB run repeated (each ends on a full flush, so the copies are
    independent), which is how a real bomb reaches the upload cap. ``lie_in_header``: the .npy
    header claims one descriptor while the archive still declares the full size.
    """
    run = 64 << 20
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    chunk = compressor.compress(bytes(run)) + compressor.flush(zlib.Z_FULL_FLUSH)
    copies = max(1, compressed_bytes // len(chunk))
    rows = copies * run // (128 * 4)
    header = _npy_header((1, 128) if lie_in_header else (rows, 128), "<f4")
    head = zlib.compressobj(1, zlib.DEFLATED, -15)
    first = head.compress(header) + head.flush(zlib.Z_FULL_FLUSH)
    bomb = first + chunk * copies + b"\x03\x00"  # an empty final block ends the stream
    small = {
        "format.npy": np.array("cvdemo-face-gallery"), "version.npy": np.array(1),
        "names.npy": np.full(names_shape, "x", dtype="<U1"),
    }
    members = {}
    for name, array in small.items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        members[name] = _deflated(buffer.getvalue())
    members["descriptors.npy"] = (bomb, len(header) + copies * run, 0)  # crc never reached
    return _zip64(members)


def _import_in_fresh_process(path: Path) -> dict:
    """Import ``path`` in a new interpreter capped at 2 GiB more address space than it starts
    with (so an unchecked inflate fails there instead of taking the machine down); report its
    message and how far its peak RSS rose over the RSS just before the import."""
    code = textwrap.dedent(f"""
        import json, resource, sys
        from cvdemo.faces.gallery import Gallery, GalleryError

        def status(field):
            for line in open("/proc/self/status"):
                if line.startswith(field):
                    return int(line.split()[1]) * 1024

        data = open({str(path)!r}, "rb").read()
        limit = status("VmSize:") + (2 << 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        before = status("VmRSS:")
        try:
            Gallery.from_bytes(data, "bomb.npz")
            outcome = "imported"
        except GalleryError as exc:
            ran_out = isinstance(exc.__context__, MemoryError)  # refused only because the cap stopped it
            outcome = "MemoryError" if ran_out else "refused: " + str(exc)
        except MemoryError:
            outcome = "MemoryError"
        print(json.dumps({{"outcome": outcome, "growth": status("VmHWM:") - before}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("compressed_mb, lie_in_header", [(49, False), (49, True), (1, False)],
                         ids=["at-the-cap-declares-50GB", "header-lies", "1MB-declares-1GB"])
def test_a_gallery_bomb_is_refused_without_inflating(tmp_path, compressed_mb, lie_in_header):
    from cvdemo.images import MAX_BYTES

    data = gallery_bomb(compressed_mb << 20, lie_in_header=lie_in_header)
    assert len(data) <= MAX_BYTES
    path = tmp_path / "bomb.npz"
    path.write_bytes(data)
    result = _import_in_fresh_process(path)
    assert result["outcome"].startswith("refused: bomb.npz"), result
    assert result["growth"] < 100 * 2**20, f"peak RSS rose {result['growth'] / 2**20:.0f} MiB"


def test_a_gallery_naming_more_people_than_the_cap_is_refused():
    data = gallery_bomb(1 << 20, names_shape=(MAX_ENTRIES + 1,))
    with pytest.raises(GalleryError, match=f"at most {MAX_ENTRIES} photos"):
        Gallery.from_bytes(data, "crowd.npz")


def _gallery(count: int, name: str = "p") -> Gallery:
    gallery = Gallery()
    rng = np.random.default_rng(0)
    for i in range(count):
        gallery.add(f"{name}{i % 7}", rng.standard_normal(128), np.full((150, 150, 3), i % 256, np.uint8), f"{i}.jpg")
    return gallery


def test_an_exported_npz_round_trips_with_its_chips():
    original = _gallery(5)
    original.entries[2].chip = None
    copy = Gallery.from_bytes(original.to_npz(), "g.npz")
    assert copy.labels == original.labels
    assert [e.source for e in copy.entries] == [e.source for e in original.entries]
    np.testing.assert_array_equal(copy.descriptors(), original.descriptors())
    assert copy.entries[2].chip is None
    np.testing.assert_array_equal(copy.entries[4].chip, original.entries[4].chip)


def test_imports_respect_the_entry_cap_across_imports():
    file = Gallery.from_bytes(_gallery(1200).to_json(), "big.json")
    gallery = Gallery()
    gallery.import_entries(file)
    with pytest.raises(GalleryError, match="would exceed"):
        gallery.import_entries(file)
    assert len(gallery) == 1200  # all or nothing
    gallery.import_entries(file, replace=True)
    assert len(gallery) == 1200


@pytest.mark.parametrize("member, array", [
    ("names.npy", np.array(["x" * 500])),  # longer than any cleaned name
    ("descriptors.npy", np.zeros((1, 128), dtype=object)),
    ("chips.npy", np.zeros((1, 150, 150, 4), dtype=np.uint8)),
])
def test_npz_members_of_the_wrong_type_or_shape_are_refused(member, array):
    good = _gallery(1).to_npz()
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == member:
                npy = io.BytesIO()
                np.save(npy, array, allow_pickle=True)
                target.writestr(member, npy.getvalue())
            else:
                target.writestr(info.filename, source.read(info))
    with pytest.raises(GalleryError, match="evil.npz"):
        Gallery.from_bytes(buffer.getvalue(), "evil.npz")


# --------------------------------------------------------------------------- the server as `make run` starts it


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.browser
def test_make_run_serves_loopback_only_and_an_idle_session_costs_almost_no_cpu(browser, tmp_path):
    """`make run` is `.venv/bin/streamlit run app.py` with the project's config and no flags; only
    the port comes from the environment, so that parallel runs do not collide."""
    from tests.conftest import _free_port, wait_for_streamlit

    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    streamlit = Path(sys.executable).parent / "streamlit"
    server = subprocess.Popen([str(streamlit), "run", "app.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, STREAMLIT_SERVER_PORT=str(port)))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        outward = _outward_address()
        if outward is not None:
            with pytest.raises(OSError), socket.create_connection((outward, port), timeout=3):
                pass
        context = browser.new_context(base_url=url)
        try:
            page = context.new_page()
            page.goto("/")
            wait_for_streamlit(page)
            time.sleep(5)  # let the first run's after-work settle
            started_cpu, started = _cpu_seconds(server.pid), time.monotonic()
            time.sleep(15)
            share = (_cpu_seconds(server.pid) - started_cpu) / (time.monotonic() - started)
        finally:
            context.close()
        assert share < 0.05, f"the idle server used {share:.0%} of a core"
        assert "Inotify" not in (tmp_path / "server.log").read_text()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_server_config_is_safe_for_a_class():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] in ("type", "none")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=ROOT)
    assert ignored.returncode == 0, ".streamlit/secrets.toml (TURN credentials) must never be committed"


# --------------------------------------------------------------------------- uploads in the app


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def huge_pngs() -> list[bytes]:
    """Four small PNGs (about 150 KB each) that each decode to 7000×7000 RGB: 147 MB of pixels."""
    canvas = np.zeros((7000, 7000, 3), np.uint8)
    pngs = []
    for shade in (40, 90, 140, 190):
        canvas[:] = shade
        pngs.append(_png(canvas))
    return pngs


def _upload_app():
    import streamlit as st

    from cvdemo.ui.common import image_input

    picked = image_input("probe", sources=("Upload",))
    if picked is not None:
        st.write(f"{picked[0].shape[1]}×{picked[0].shape[0]}")


@pytest.mark.page
def test_declared_7000px_uploads_stay_within_the_sessions_budget(huge_pngs):
    import gc
    import tracemalloc

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_upload_app, default_timeout=300).run()
    gc.collect()
    tracemalloc.start()
    try:
        for number, png in enumerate(huge_pngs):
            at.file_uploader(key="probe_file").set_value((f"huge{number}.png", png, "image/png")).run()
            assert not at.exception and not at.error, (at.exception, at.error)
            assert at.markdown[-1].value == "7000×7000"
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    picture = 7000 * 7000 * 3
    # The session keeps at most what fits its budget (two such pictures), never all four.
    assert held < 2.5 * picture, f"{held / 2**20:.0f} MiB still held after four uploads of {picture / 2**20:.0f} MiB each"


def _png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header for ``width``×``height`` with almost no pixel data: Pillow reads the size
    without decoding, exactly what a decompression-bomb upload looks like."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, like a class mask
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


MARKDOWN_IMAGE_NAME = "![probe](http://127.0.0.1:9/beacon.png).png"


def _rendered_strings(at) -> str:
    """Every string the page sent to the browser (markdown bodies, captions, labels, messages)."""
    from google.protobuf.json_format import MessageToDict

    texts = []

    def strings(value):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            strings(MessageToDict(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(texts)


@pytest.fixture(scope="module")
def detection_photos():
    from streamlit.testing.v1 import AppTest

    from cvdemo import registry
    from cvdemo.registry import Task

    try:
        registry.default_model(Task.DETECTION)
    except LookupError:
        pytest.skip("no detector is ready offline")

    def open_photos_tab():
        at = AppTest.from_file(str(ROOT / "pages" / "1_Detection.py"), default_timeout=600)
        at.session_state["det_tab"] = "📷 Photos"
        return at.run()

    return open_photos_tab


@pytest.mark.page
def test_detection_survives_a_20000x1_strip_and_a_1x1_photo(detection_photos):
    at = detection_photos()
    at.file_uploader(key="det_uploads").set_value([
        ("strip.png", _png(np.full((1, 20000, 3), 90, np.uint8)), "image/png"),
        ("dot.png", _png(np.full((1, 1, 3), 90, np.uint8)), "image/png"),
    ]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("strip.png is 20000×1 pixels" in e.value and "crop it" in e.value for e in at.error)
    assert any("dot.png is only 1×1 pixels: too small" in w.value for w in at.warning)
    assert [m.label for m in at.metric].count("Boxes shown") == 1  # the dot still goes through the detector
    at.run()  # a rerun with the same uploads stays clean
    assert not at.exception


@pytest.mark.page
def test_an_upload_named_like_markdown_is_shown_as_plain_text(detection_photos, astronaut):
    at = detection_photos()
    at.file_uploader(key="det_uploads").set_value([
        (MARKDOWN_IMAGE_NAME, _png(astronaut), "image/png"),
        ("_" + MARKDOWN_IMAGE_NAME, b"not a picture", "image/png"),
    ]).run()
    assert not at.exception
    rendered = _rendered_strings(at)
    assert "\\!\\[probe\\]" in rendered  # shown, escaped...
    assert "![probe]" not in rendered.replace("\\!\\[probe\\]", "")  # ...and never as an image to fetch


@pytest.mark.page
def test_the_miou_view_refuses_a_20000x20000_mask_with_a_message():
    from streamlit.testing.v1 import AppTest

    from cvdemo import registry
    from cvdemo.registry import Task

    ready = [s for s in registry.ready_models(Task.SEMANTIC_SEGMENTATION) if "person" in s.categories]
    if not ready:
        pytest.skip("no person segmenter is ready offline")
    at = AppTest.from_file(str(ROOT / "pages" / "2_Segmentation.py"), default_timeout=300)
    at.session_state["segmentation_live_mode"] = "Snapshot"
    at.run()
    at.radio(key="seg_mode").set_value("mIoU vs. ground truth").run()
    at.selectbox(key="seg_model").set_value(ready[0].name).run()
    at.file_uploader(key="seg_miou_truth").set_value(("hugemask.png", _png_declaring(20000, 20000), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("hugemask.png declares too many pixels" in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.parametrize("width, height, message", [(20000, 1, "too thin"), (1, 20000, "too thin"), (0, 5, "not an image file")])
def test_the_loader_refuses_what_cannot_be_shown(width, height, message):
    from cvdemo.images import ImageLoadError, load_image

    data = _png(np.zeros((height, width, 3), np.uint8)) if width else _png_declaring(width, height)
    with pytest.raises(ImageLoadError, match=message):
        load_image(data, name="x.png")


def test_plain_escapes_every_markdown_construct_a_name_could_carry():
    from cvdemo.ui.common import plain

    escaped = plain("![a](http://h/x.png) <http://h> **b** `c` $x$ ~d~ | e\n# f")
    assert "![" not in escaped.replace("\\![", "") and "\n" not in escaped
    for mark in ("\\[", "\\]", "\\<", "\\*\\*", "\\`", "\\$", "\\~", "\\|", "\\#"):
        assert mark in escaped


# --------------------------------------------------------------------------- the CLI's promise: one line on stderr, exit 2


def run_cli(*args) -> tuple[int, str, str]:
    """``python -m cvdemo ARGS`` in this process: (exit status, stdout, stderr)."""
    import contextlib

    from cvdemo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(arg) for arg in args])
        except SystemExit as exc:  # argparse's own refusals
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def run_cli_process(*args, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """A fresh ``python -m cvdemo`` (for what happens at import time and to the real stdout), bytes in and out."""
    return subprocess.run([sys.executable, "-m", "cvdemo", *args], cwd=ROOT, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_refused(status: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("cvdemo"), (status, err)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("cli") / "cat.png"
    path.write_bytes(_png(data.chelsea()))
    return path


def test_an_unreadable_input_is_one_line(photo_file, monkeypatch):
    original = Path.read_bytes

    def read_bytes(self):
        if self.name == photo_file.name:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    status, _, err = run_cli("detect", photo_file)
    assert_refused(status, err, "cat.png cannot be read (Permission denied)")


@pytest.mark.parametrize("args, fragment", [
    (["generate", "--n", "2", "--out", "/proc/cvdemo-x"], "--out /proc/cvdemo-x: cannot create it"),
    (["explain", "{photo}", "--method", "occlusion", "--stride", "0"], "--stride must be at least 1, got 0"),
    (["explain", "{photo}", "--method", "occlusion", "--patch", "0"], "--patch must be at least 1, got 0"),
    (["explain", "{photo}", "--method", "lrp_epsilon", "--epsilon", "nan"], "--epsilon must be a positive number"),
    (["explain", "{photo}", "--out", "{folder}"], "is a folder; name a file"),
    (["explain", "{photo}", "--png", "/proc/cvdemo-x/map.png"], "--png /proc/cvdemo-x/map.png: cannot create its folder"),
    (["bench", "yolov9"], "unknown model 'yolov9'"),
    (["bench", "--runs", "0", "mobilenet_v2"], "--runs must be at least 1"),
], ids=["generate-out-proc", "stride-0", "patch-0", "epsilon-nan", "out-is-a-folder", "png-unwritable", "bench-yolov9",
        "bench-runs-0"])
def test_bad_options_are_one_line_and_exit_2(args, fragment, photo_file, tmp_path):
    folder = tmp_path / "map.npy"
    folder.mkdir()
    status, out, err = run_cli(*[a.format(photo=photo_file, folder=folder) for a in args])
    assert_refused(status, err, fragment)
    assert out == ""


def test_explain_writes_its_png_into_a_folder_it_creates(photo_file, tmp_path):
    target = tmp_path / "new" / "folder" / "map.png"
    status, out, err = run_cli("explain", photo_file, "--method", "gradient", "--png", target)
    assert status == 0, err
    assert target.stat().st_size > 1000 and json.loads(out)["method"]


@pytest.mark.parametrize("variable", ["CVDEMO_THREADS", "CVDEMO_MAX_IMAGE_PIXELS", "CVDEMO_MAX_IMAGE_BYTES"])
def test_a_malformed_setting_is_one_line_naming_it(variable):
    done = run_cli_process("weights", "--json", env={variable: "abc"}, timeout=300)
    assert_refused(done.returncode, done.stderr.decode(), f"{variable}='abc' is not a whole number")
    assert done.stdout == b""


def test_json_is_strict_even_for_nan_and_names_that_are_not_utf8():
    import contextlib

    from cvdemo.cli._common import print_json

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_json({"delta": float("nan"), "top": [float("inf"), 1.5], "image": "caf\udce9.png"})
    parsed = json.loads(out.getvalue())  # Python's json accepts NaN; the check is on the text itself
    assert "NaN" not in out.getvalue() and "Infinity" not in out.getvalue()
    assert parsed == {"delta": None, "top": [None, 1.5], "image": "caf\ufffd.png"}


def test_a_file_name_that_is_not_utf8_gives_valid_utf8_json(tmp_path, photo_file):
    folder = os.fsencode(tmp_path)
    name = folder + b"/caf\xe9.png"
    with open(name, "wb") as file:
        file.write(photo_file.read_bytes())
    done = run_cli_process("segment", os.fsdecode(name), "--out", str(tmp_path / "out"), timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    payload = json.loads(done.stdout.decode("utf-8"))  # strict: raises on invalid UTF-8
    assert payload["image"].endswith("caf\ufffd.png")


# --------------------------------------------------------------------------- serving hygiene


@pytest.mark.parametrize("raw, fragment", [
    ("[{urls: stun}]", "not valid JSON"),
    ('{"urls": "http://example.org"}', "stun:, stuns:, turn: or turns:"),
    ('"stun:stun.example.org"', "must be a list of servers"),
    ('[{"urls": ["turn:t.example.org"], "credential": 5}]', "credential must be a string"),
])
def test_malformed_ice_settings_are_refused_with_a_message(raw, fragment):
    from cvdemo.settings import SettingError, ice_servers_from_json

    with pytest.raises(SettingError, match=fragment):
        ice_servers_from_json(raw)


def test_ice_settings_accept_one_server_or_a_list():
    from cvdemo.settings import ice_servers_from_json

    assert ice_servers_from_json('{"urls": "stun:s.example.org:3478"}') == [{"urls": ["stun:s.example.org:3478"]}]
    servers = ice_servers_from_json('[{"urls": ["turn:t.example.org"], "username": "u", "credential": "c"}]')
    assert servers == [{"urls": ["turn:t.example.org"], "username": "u", "credential": "c"}]


def _live_app():
    from cvdemo.ui.live import live_video

    live_video("probe", lambda rgb: rgb)


@pytest.mark.page
def test_a_malformed_ice_setting_turns_live_video_off_with_a_message(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CVDEMO_ICE_SERVERS", "[{urls: stun}]")
    at = AppTest.from_function(_live_app, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Live video is off: CVDEMO\\_ICE\\_SERVERS is not valid JSON" in e.value for e in at.error), [e.value for e in at.error]
    assert at.get("camera_input"), "the snapshot fallback is offered"


def _picker_app():
    from cvdemo.registry import Task
    from cvdemo.ui.common import model_picker

    model_picker(Task.CLASSIFICATION, key="probe", default="resnet50")


@pytest.mark.parametrize("setting, offered", [("0", False), ("1", True), (None, True)],
                         ids=["off", "on", "unset-on-loopback"])
@pytest.mark.page
def test_zoo_downloads_from_the_app_follow_the_setting(monkeypatch, setting, offered):
    from streamlit.testing.v1 import AppTest

    from cvdemo import registry
    from cvdemo.weights import Status

    if registry.get("resnet50").status().status is not Status.DOWNLOADABLE:
        pytest.skip("resnet50's weights are already here")
    if setting is None:
        monkeypatch.delenv("CVDEMO_ALLOW_DOWNLOADS", raising=False)
    else:
        monkeypatch.setenv("CVDEMO_ALLOW_DOWNLOADS", setting)
    at = AppTest.from_function(_picker_app, default_timeout=120).run()
    assert not at.exception
    buttons = [b.label for b in at.button]
    assert any(label.startswith("Download ResNet-50") for label in buttons) is offered, buttons
    if not offered:
        assert any("Downloads from the app are off" in c.value for c in at.caption)


def test_only_the_download_code_sets_a_socket_timeout():
    """A process-wide ``socket.setdefaulttimeout`` would cut every session's connections short."""
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "cvdemo").rglob("*.py")
                 if "setdefaulttimeout" in path.read_text() and path.name != "weights.py"]
    assert offenders == []
