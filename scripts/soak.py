"""Soak test: N browser sessions use the app at once; server RSS, CPU and latency per action.

    .venv/bin/python scripts/soak.py --sessions 4 --cycles 3 [--port 8610] [--url http://127.0.0.1:8501 --pid PID]

Without ``--url`` it starts ``streamlit run app.py`` itself, exactly as ``make run`` does (the
project's config; only the port comes from the environment), on loopback, and stops it at the end.
Each session runs the actions in order, every cycle: open Home, open Detection (the sample photo
goes through the default detector), upload a photo there, open Segmentation, then sit idle. All
sessions run each action together; the server's RSS and CPU are read from /proc between actions.
Everything is bounded: sessions, cycles, a timeout per action and a deadline for the whole run.
Prints one table and, with ``--json FILE``, writes the figures there too. Needs Debian's chromium
(``make test`` installs it) and Linux's /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CVDEMO_CHROMIUM", "/usr/bin/chromium")
MAX_SESSIONS, MAX_CYCLES = 16, 20
IDLE_SECONDS = 10.0


def server_sample(pid: int) -> tuple[float, float]:
    """(RSS in MiB, CPU seconds used so far) of process ``pid``."""
    rss_kib = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss_kib / 1024, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    streamlit = Path(sys.executable).parent / "streamlit"
    log = open(log_path, "w")
    return subprocess.Popen([str(streamlit), "run", "app.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, "STREAMLIT_SERVER_PORT": str(port)})


def wait_healthy(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"soak: {url} did not become healthy within {timeout_s:.0f} s")


async def settled(page, timeout_s: float) -> None:
    """Until Streamlit has rendered and stopped running the script for 0.75 s."""
    await page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        state = await page.get_attribute('[data-testid="stApp"]', "data-test-script-state") or "initial"
        rendered = await page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count() > 0
        if rendered and state not in ("initial", "running"):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.75:
                return
        else:
            quiet_since = None
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the page kept running for more than {timeout_s:.0f} s")


def upload_photo() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


async def run_action(name: str, page, photo: bytes, timeout_s: float) -> None:
    if name == "home":
        await page.goto("/")
    elif name == "detection":
        await page.goto("/Detection")
    elif name == "upload":
        uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Photos").first
        await uploader.locator('input[type="file"]').set_input_files(
            files=[{"name": "coffee.jpg", "mimeType": "image/jpeg", "buffer": photo}])
        await asyncio.sleep(1.0)  # the upload itself, before the rerun starts
    elif name == "segmentation":
        await page.goto("/Segmentation")
    elif name == "idle":
        await asyncio.sleep(IDLE_SECONDS)
        return
    await settled(page, timeout_s)


ACTIONS = ("home", "detection", "upload", "segmentation", "idle")


async def soak(url: str, pid: int, sessions: int, cycles: int, timeout_s: float, deadline: float) -> list[dict]:
    from playwright.async_api import async_playwright

    photo = upload_photo()
    rows = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        contexts = [await browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url) for _ in range(sessions)]
        pages = [await context.new_page() for context in contexts]
        try:
            for cycle in range(1, cycles + 1):
                for action in ACTIONS:
                    if time.monotonic() > deadline:
                        print("soak: deadline reached, stopping early", file=sys.stderr)
                        return rows
                    rss_before, cpu_before = server_sample(pid)
                    started = time.monotonic()

                    async def timed(page):
                        began = time.monotonic()
                        try:
                            await run_action(action, page, photo, timeout_s)
                            return time.monotonic() - began, None
                        except Exception as exc:  # one failing session is a figure, not a crash of the soak
                            return time.monotonic() - began, f"{exc.__class__.__name__}: {str(exc)[:120]}"

                    outcomes = await asyncio.gather(*(timed(page) for page in pages))
                    wall = time.monotonic() - started
                    rss_after, cpu_after = server_sample(pid)
                    latencies = [seconds for seconds, _ in outcomes]
                    rows.append({
                        "cycle": cycle, "action": action, "sessions": sessions,
                        "latency_median_s": round(statistics.median(latencies), 2), "latency_max_s": round(max(latencies), 2),
                        "server_cpu_cores": round((cpu_after - cpu_before) / wall, 2),
                        "server_rss_mb": round(rss_after), "rss_change_mb": round(rss_after - rss_before),
                        "errors": [error for _, error in outcomes if error],
                    })
                    print(format_row(rows[-1]), flush=True)
        finally:
            for context in contexts:
                await context.close()
            await browser.close()
    return rows


HEADER = f"{'cycle':>5} {'action':<13} {'median s':>9} {'max s':>7} {'CPU cores':>10} {'RSS MB':>8} {'ΔRSS':>7}  errors"


def format_row(row: dict) -> str:
    return (f"{row['cycle']:>5} {row['action']:<13} {row['latency_median_s']:>9.2f} {row['latency_max_s']:>7.2f} "
            f"{row['server_cpu_cores']:>10.2f} {row['server_rss_mb']:>8} {row['rss_change_mb']:>+7}  {len(row['errors']) or ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help=f"browser sessions at once, 1 … {MAX_SESSIONS} (default 4)")
    parser.add_argument("--cycles", type=int, default=3, help=f"times each session runs the actions, 1 … {MAX_CYCLES} (default 3)")
    parser.add_argument("--port", type=int, default=8610, help="port for the server this script starts (default 8610)")
    parser.add_argument("--url", help="soak a server that is already running (loopback only); needs --pid")
    parser.add_argument("--pid", type=int, help="process id of that server, for its RSS and CPU")
    parser.add_argument("--timeout", type=float, default=180, help="seconds one action may take (default 180)")
    parser.add_argument("--deadline", type=float, default=900, help="seconds for the whole soak (default 900)")
    parser.add_argument("--settle", type=float, default=30, help="seconds to wait after the sessions close before the last RSS reading")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS or not 1 <= args.cycles <= MAX_CYCLES:
        parser.error(f"--sessions must be 1 … {MAX_SESSIONS} and --cycles 1 … {MAX_CYCLES}")
    if args.url and (args.pid is None or not args.url.startswith(("http://127.", "http://localhost", "http://[::1]"))):
        parser.error("--url must be a loopback address and comes with --pid")
    deadline = time.monotonic() + args.deadline
    server = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        server = start_server(args.port, Path(f"/tmp/cvdemo-soak-{args.port}.log"))
        url, pid = f"http://127.0.0.1:{args.port}", server.pid
    try:
        wait_healthy(url, 120)
        rss_start, _ = server_sample(pid)
        print(f"server {url} (pid {pid}): RSS {rss_start:.0f} MB before any session; "
              f"{args.sessions} sessions × {args.cycles} cycles")
        print(HEADER)
        rows = asyncio.run(soak(url, pid, args.sessions, args.cycles, args.timeout, deadline))
        time.sleep(max(0.0, min(args.settle, deadline + 60 - time.monotonic())))
        rss_end, _ = server_sample(pid)
        print(f"RSS {args.settle:.0f} s after the sessions closed: {rss_end:.0f} MB ({rss_end - rss_start:+.0f} MB since the start)")
        if args.json:
            args.json.write_text(json.dumps({"url": url, "sessions": args.sessions, "cycles": args.cycles,
                                             "rss_start_mb": round(rss_start), "rss_end_mb": round(rss_end), "rows": rows}, indent=2))
        return 1 if any(row["errors"] for row in rows) else 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
