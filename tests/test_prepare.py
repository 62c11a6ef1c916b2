"""Class prep: `weights fetch --all` against a loopback HTTP server (a fake zoo) and offline."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cvdemo.prepare import Download, FetchFailed, download, page_readiness
from cvdemo.weights import PACKS_DIR

ROOT = Path(__file__).resolve().parent.parent


class FakeZoo(http.server.ThreadingHTTPServer):
    """Serves ``files`` by name with Range support; ``cut_after`` drops the first answer part-way."""

    def __init__(self, files: dict[str, bytes], cut_after: int | None = None):
        self.files, self.cut_after, self.ranges = files, cut_after, []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server: FakeZoo = self.server
        name = self.path.lstrip("/")
        body = server.files.get(name, b"not the weights you are looking for" * 100)
        asked = self.headers.get("Range")
        server.ranges.append(asked)
        start = int(asked.split("=")[1].rstrip("-")) if asked else 0
        if start >= len(body):
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if asked else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.cut_after is not None:
            self.wfile.write(body[start:start + server.cut_after])
            server.cut_after = None
            self.close_connection = True
            return
        self.wfile.write(body[start:])


def _weights_file(size: int = 300_000) -> tuple[str, bytes]:
    body = os.urandom(size)
    return f"tiny-{hashlib.sha256(body).hexdigest()[:8]}.pth", body


def _item(zoo: FakeZoo, name: str, tmp_path: Path) -> Download:
    return Download("tiny", zoo.url + name, tmp_path / "checkpoints" / name, name.rsplit("-", 1)[1].split(".")[0])


def test_download_from_a_fake_zoo_checks_the_hash(tmp_path):
    name, body = _weights_file()
    zoo = FakeZoo({name: body})
    seen = []
    path = download(_item(zoo, name, tmp_path), on_bytes=lambda done, total: seen.append((done, total)))
    zoo.shutdown()
    assert path.read_bytes() == body
    assert seen[-1] == (len(body), len(body)) and len(seen) > 1  # progress came in steps
    assert list(path.parent.iterdir()) == [path]


def test_interrupted_download_resumes_where_it_stopped(tmp_path):
    name, body = _weights_file()
    zoo = FakeZoo({name: body}, cut_after=100_000)
    item = _item(zoo, name, tmp_path)
    with pytest.raises(FetchFailed, match="run it again to resume"):
        download(item)
    assert not item.target.exists() and item.partial.stat().st_size == 100_000
    download(item)
    zoo.shutdown()
    assert item.target.read_bytes() == body and not item.partial.exists()
    assert zoo.ranges == [None, "bytes=100000-"]


def test_a_file_failing_its_hash_is_deleted(tmp_path):
    name, body = _weights_file()
    zoo = FakeZoo({name: body[:-1] + bytes([body[-1] ^ 1])})
    item = _item(zoo, name, tmp_path)
    with pytest.raises(FetchFailed, match="failed its hash check"):
        download(item)
    zoo.shutdown()
    assert list(item.target.parent.iterdir()) == []


def _fetch_all_cli(tmp_path: Path, mirror: str) -> subprocess.CompletedProcess:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "packs").symlink_to(PACKS_DIR.resolve())  # the packs are here; only zoo files are missing
    env = dict(os.environ, CVDEMO_WEIGHTS_DIR=str(weights))
    return subprocess.run([sys.executable, "-m", "cvdemo", "weights", "fetch", "--all", "--mirror", mirror],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _checkpoint_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "weights" / "hub" / "checkpoints"
    return sorted(p for p in folder.iterdir() if not p.is_symlink()) if folder.exists() else []


def test_fetch_all_offline_says_what_failed_and_writes_nothing(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on: the machine is "offline"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _fetch_all_cli(tmp_path, f"http://127.0.0.1:{port}/")
    assert done.returncode == 1
    assert "could not fetch resnet50: cannot reach 127.0.0.1" in done.stderr
    assert "seems to be offline" in done.stderr
    assert '"mobilenet_v2"' in done.stdout  # the ready ones are listed as ready
    assert _checkpoint_files(tmp_path) == []


def test_fetch_all_from_a_fake_index_rejects_wrong_files(tmp_path):
    zoo = FakeZoo({})  # answers every name with the same wrong bytes
    done = _fetch_all_cli(tmp_path, zoo.url)
    zoo.shutdown()
    assert done.returncode == 1
    assert "could not fetch vgg16: vgg16-397923af.pth failed its hash check" in done.stderr
    assert "resnet18" in done.stderr and "maskrcnn-resnet50" in done.stderr  # one failure does not stop the rest
    assert len(zoo.ranges) >= 16
    assert _checkpoint_files(tmp_path) == []


def test_each_page_says_which_lessons_are_ready():
    detection = page_readiness("1_Detection.py")
    assert any("CenterNet" in title for title in detection.ready)
    assert any("Faster R-CNN" in title for title in detection.ready + detection.need_download)
    assert page_readiness("0_Home.py") is None


@pytest.mark.page
def test_prepare_for_class_button_offline_lists_failures_and_the_app_keeps_going(monkeypatch):
    from streamlit.testing.v1 import AppTest

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CVDEMO_WEIGHTS_MIRROR", f"http://127.0.0.1:{port}/")
    at = AppTest.from_function(_home_prepare_section, default_timeout=300).run()
    [button] = [b for b in at.button if b.label == "Prepare for class"]
    button.click().run()
    assert not at.exception
    assert any(e.value.startswith("Could not fetch") for e in at.error)
    failures = next(d.value for d in at.dataframe if "why" in d.value.columns)
    assert "resnet50" in set(failures["model"]) and failures["why"].str.contains("seems to be offline").all()
    assert at.markdown[-1].value == "the page goes on"


def _home_prepare_section():
    import streamlit as st

    from cvdemo.ui.prepare import prepare_for_class

    prepare_for_class()
    st.markdown("the page goes on")
