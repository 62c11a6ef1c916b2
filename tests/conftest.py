"""Shared fixtures: real photos, the in-process command line, and the browser harness.

Tests come in three tiers, chosen by marker: unmarked tests (``make test-fast``), ``page`` tests
that run a page through Streamlit's ``AppTest``, and ``browser`` tests. An unmarked test that
starts an ``AppTest`` fails with a message saying to mark it, so the fast tier stays fast.

Browser tests start ``streamlit run app.py`` once per session on a free port and drive Debian's
Chromium through Playwright (never a downloaded browser). Use ``open_page("Detection")`` to
load a page and wait until Streamlit has finished running it, and ``save_screenshot(page,
name)`` to keep a PNG under tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.fakecam import photo_frames, write_y4m

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SHARED = ROOT.parent / "shared"
CHROMIUM = os.environ.get("CVDEMO_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory, astronaut) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(log_path: Path):
    """``streamlit run app.py`` on a free port, as a user starts it; yields its URL once healthy."""
    port = _free_port()
    log = open(log_path, "w")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not become healthy within 90 s")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url(artifacts_dir):
    with streamlit_server(artifacts_dir / "streamlit-server.log") as url:
        yield url


@pytest.fixture()
def fresh_app_url(artifacts_dir):
    """A server of its own that nobody has visited yet (some behaviour differs on a first visit)."""
    with streamlit_server(artifacts_dir / "streamlit-fresh-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def fake_camera_clip(tmp_path_factory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("fakecam") / "photos.y4m", photo_frames())


@pytest.fixture(scope="session")
def browser(fake_camera_clip):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={fake_camera_clip}",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"], base_url=app_url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def wait_for_streamlit(page, timeout_s: float = 120.0) -> None:
    """Wait until the app has rendered and its script is no longer running; fail on an exception box."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        # Streamlit tags its root with the script state: "initial", "running", "notRunning", …
        state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state") or "initial"
        rendered = page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count() > 0
        if rendered and state not in ("initial", "running"):
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 0.75:
                break
        else:
            quiet_since = None
        time.sleep(0.25)
    else:
        raise AssertionError(f"the page kept running for more than {timeout_s:.0f} s")
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"the page shows an exception: {exceptions.first.inner_text()[:2000]}"


def pick_view(page, title: str) -> None:
    """Open a page's view by clicking its title in the view picker, and wait for the page."""
    picker = page.locator('[data-testid="stMain"] [data-testid="stRadio"]').first
    picker.locator("label").filter(has_text=title).first.click()
    wait_for_streamlit(page)


def shown_text(page, text):
    """The first *visible* element showing ``text``.

    Plain ``get_by_text`` also matches Plotly's SVG labels (legends, axis titles), which may be
    hidden while a chart draws; a strict single-element wait then fails at random.
    """
    return page.get_by_text(text).filter(visible=True).first


def image_by_caption(page, caption: str) -> np.ndarray:
    """The picture Streamlit shows with ``caption``, as the browser received it."""
    import io

    from PIL import Image

    element = page.locator('[data-testid="stImage"]').filter(has_text=caption).first
    element.wait_for()
    source = element.locator("img").first.get_attribute("src")
    response = page.request.get(source)
    assert response.ok, source
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


@pytest.fixture()
def open_page(page):
    """``open_page("Detection")`` → the Playwright page after Streamlit finished rendering it."""

    def _open(path: str = "", timeout_s: float = 120.0):
        page.goto(f"/{path.lstrip('/')}")
        wait_for_streamlit(page, timeout_s)
        return page

    return _open


@pytest.fixture()
def save_screenshot(artifacts_dir):
    def _save(page, name: str, full_page: bool = True) -> Path:
        path = artifacts_dir / f"{name}.png"
        viewport = page.viewport_size
        if full_page and viewport:
            # Streamlit scrolls inside its own container, so Playwright's full_page sees only the
            # window: grow the window to the content's height for the shot, then restore it.
            height = page.evaluate(
                "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')]"
                ".map(e => e.scrollHeight), document.body.scrollHeight)")
            page.set_viewport_size({"width": viewport["width"], "height": int(min(max(height, viewport["height"]), 8000))})
            page.wait_for_timeout(300)
        page.screenshot(path=str(path), full_page=full_page)
        if full_page and viewport:
            page.set_viewport_size(viewport)
        assert path.stat().st_size > 10_000, "the screenshot is suspiciously small (blank page?)"
        return path

    return _save


@pytest.fixture(scope="session")
def shared_facedata() -> Path:
    path = SHARED / "facedata"
    if not path.is_dir():
        pytest.skip(f"{path} is not present (it sits beside the repository on development and CI machines)")
    return path


# ---------------------------------------------------------------------------------------------
# Real photos and offline models shared by the feature tests (loaded once per session)


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    from skimage import data

    return data.chelsea()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    from skimage import data

    return data.coffee()


@pytest.fixture(scope="session")
def mobilenet():
    import torch

    from cvdemo import registry

    return registry.load_model("mobilenet_v2", torch.device("cpu"))


@pytest.fixture(scope="session")
def efficientnet():
    import torch

    from cvdemo import registry

    return registry.load_model("efficientnet_lite0", torch.device("cpu"))


@pytest.fixture(scope="session")
def chelsea_inputs(mobilenet, chelsea):
    return mobilenet.preprocess(chelsea)


@pytest.fixture(scope="session")
def require_ready():
    """``require_ready("emotion")`` skips the test, saying why, when a model is not ready here."""
    from cvdemo import registry

    def require(name: str) -> None:
        try:
            ready = registry.get(name).ready
        except KeyError:
            ready = False
        if not ready:
            pytest.skip(f"model {name} is not ready on this machine")

    return require


# ---------------------------------------------------------------------------------------------
# The command line, run in process


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def cli(capsys):
    """``cli("detect", photo, "--json")`` → CliRun: the same ``main()`` as ``python -m cvdemo``.

    In process, so a test pays for the models it uses but not for a fresh interpreter and imports;
    argparse's own exits (``--help``, usage errors) come back as the return code.
    """
    from cvdemo.cli import main

    def run(*args) -> CliRun:
        capsys.readouterr()
        try:
            returncode = main([str(arg) for arg in args])
        except SystemExit as exit_:
            returncode = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return CliRun(returncode, captured.out, captured.err)

    return run


# ---------------------------------------------------------------------------------------------
# Test tiers


@pytest.fixture(autouse=True)
def _app_tests_carry_the_page_marker(request, monkeypatch):
    if request.node.get_closest_marker("page") or request.node.get_closest_marker("browser"):
        return
    from streamlit.testing.v1 import AppTest

    def refuse(*args, **kwargs):
        pytest.fail(f"{request.node.nodeid} runs a Streamlit AppTest: mark it @pytest.mark.page", pytrace=False)

    for constructor in ("from_file", "from_function", "from_string"):
        monkeypatch.setattr(AppTest, constructor, refuse)
