"""The live path as a student gets it: the app started as `make run` starts it, a fake camera in
headless Chromium, and the FPS each live view's own readout strip shows.

    .venv/bin/python scripts/live_bench.py [--port 8650] [--seconds 20] [--views detection segmentation faces explain]

Prints one JSON object per view: {"view", "fps", "latency_ms", "frames", "readout"}; nothing is
asserted (timings depend on the machine). Chromium's fake camera plays real photos
(tests/fakecam.py) at 30 FPS, so 30 FPS is the most any view can show.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakecam import photo_frames, write_y4m  # noqa: E402  (needs the path above)

CHROMIUM = os.environ.get("CVDEMO_CHROMIUM", "/usr/bin/chromium")
READOUT = re.compile(r"Live:\s*([0-9.]+)\s*FPS\s*·\s*([0-9.]+)\s*ms per frame\s*·\s*(\d+) frames processed")


def start_app(port: int, log: Path | None = None) -> subprocess.Popen:
    """`make run`'s command (its set-up step is skipped: the venv is there), on a loopback port."""
    command = [str(ROOT / ".venv" / "bin" / "streamlit"), "run", "app.py", "--server.headless=true",
               "--server.address=127.0.0.1", f"--server.port={port}"]
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115  (the child holds it open until it ends)
    server = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return server
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError(f"the app did not answer on port {port} within 120 s")


def _settle(page, seconds: float = 120) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=seconds * 1000)
    deadline = time.time() + seconds
    while time.time() < deadline:
        state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state") or "initial"
        if state not in ("initial", "running"):
            return
        time.sleep(0.3)


LIVE_VIEWS = {  # view → (page title, the view's title in its picker)
    "detection": ("Detection", "🎥 Live webcam"),
    "segmentation": ("Segmentation", "Live webcam"),
    "faces": ("Face verification", "Gallery & identify"),
    "explain": ("Explainability", "Live webcam"),
}


def _open_view(page, view: str) -> None:
    from cvdemo.ui.pages import view_link

    if view not in LIVE_VIEWS:
        raise ValueError(f"unknown view {view!r}; one of {', '.join(LIVE_VIEWS)}")
    page.goto(view_link(*LIVE_VIEWS[view]))  # the view's deep link, as the concept index opens it
    _settle(page)
    if view == "faces":  # live identification needs a gallery
        page.get_by_role("button", name=re.compile("Add the sample faces")).click()
        _settle(page, 300)
        page.get_by_text("The live webcam", exact=True).first.click()
    _settle(page, 300)


def measure_view(browser, base_url: str, view: str, seconds: float, shots: Path | None) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"], base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(300_000)
    try:
        _open_view(page, view)
        page.frame_locator('iframe[data-testid="stCustomComponentV1"]').first.get_by_role("button", name="START").click()
        strip = page.get_by_text(READOUT).first
        strip.wait_for(timeout=300_000)
        time.sleep(seconds)  # the page's FPS is a rolling window over the last 30 frames
        text = strip.inner_text()
        fps, latency, frames = READOUT.search(text).groups()
        if shots is not None:
            strip.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"live_{view}.png"))
        return {"view": view, "fps": float(fps), "latency_ms": float(latency), "frames": int(frames), "readout": text.strip()}
    except Exception:
        if shots is not None:  # what the page showed when it went wrong
            page.screenshot(path=str(shots / f"live_{view}_failed.png"))
        raise
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8650)
    parser.add_argument("--seconds", type=float, default=20.0, help="streaming time per view before the FPS is read")
    parser.add_argument("--views", nargs="+", default=["detection", "segmentation", "faces", "explain"])
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each view here")
    parser.add_argument("--server-log", type=Path, help="write the app server's output here (default: discarded)")
    args = parser.parse_args(argv)
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    # a SIGTERM (timeout, kill) unwinds like Ctrl-C, so the app server below is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as scratch:
        clip = write_y4m(Path(scratch) / "photos.y4m", photo_frames(), fps=30, repeat=30)
        server = start_app(args.port, args.server_log)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                    "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={clip}"])
                for view in args.views:
                    try:
                        result = measure_view(browser, f"http://127.0.0.1:{args.port}", view, args.seconds, args.screenshots)
                    except Exception as exc:  # one view failing must not hide the others' figures
                        result = {"view": view, "error": f"{exc.__class__.__name__}: {str(exc)[:300]}"}
                    print(json.dumps(result, ensure_ascii=False), flush=True)
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
