"""The one live-webcam path every page shares (streamlit-webrtc), with a snapshot fallback.

The frame callback runs on a worker thread: it only converts, calls the page's
``process_frame`` and times it. The readout (FPS, latency) is a strip under the video, never
drawn on the picture, where it would hide a box's label or a class name. A ``process_frame``
may return ``(frame, rows)``: the rows (dicts) fill a results table beside the video. The
page's latest ``process_frame`` (which closes
over the current widget values) is swapped into a holder on every rerun, so changing the
model, threshold or class filter applies to the running stream without restarting it.
With ``async_processing`` streamlit-webrtc keeps only the newest frame when the model is
slower than the camera: frames are dropped, never queued.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
import streamlit as st

from cvdemo.images import ImageLoadError, load_image
from cvdemo.serving import FrameDropped
from cvdemo.serving.client import live_deadline
from cvdemo.serving.lecture import STREAMS, FrameGate, StreamLimits
from cvdemo.settings import SettingError, checked_ice_servers, ice_servers_from_json
from cvdemo.ui.common import plain
from cvdemo.ui.live_stats import FrameStats

ProcessFrame = Callable[[np.ndarray], np.ndarray | tuple[np.ndarray, list[dict]]]


def ice_servers() -> list[dict]:
    """STUN/TURN servers for remote use, from $CVDEMO_ICE_SERVERS (JSON) or secrets.

    On localhost none are needed; leaving the list empty (rather than unset) also stops
    streamlit-webrtc from reaching out to public STUN servers on its own.
    Raises :class:`~cvdemo.settings.SettingError` for a malformed setting.
    """
    raw = os.environ.get("CVDEMO_ICE_SERVERS")
    if raw:
        return ice_servers_from_json(raw)
    try:
        configured = st.secrets.get("ice_servers", [])
    except Exception:  # no secrets.toml
        return []
    return checked_ice_servers(configured, "ice_servers in .streamlit/secrets.toml")


class _Holder:
    """State shared between the script thread (which swaps ``process``) and the video thread."""

    def __init__(self) -> None:
        self.process: ProcessFrame = lambda rgb: rgb
        self.stats = FrameStats()
        self.error: str | None = None
        self.gate = FrameGate(StreamLimits.from_env())
        self.last_output: np.ndarray | None = None
        self.dropped = 0  # frames the inference server did not answer in time
        self.rows: list[dict] | None = None  # the latest frame's results table, when the page gives one


def _holder(key: str) -> _Holder:
    name = f"_live_holder_{key}"
    if name not in st.session_state:
        st.session_state[name] = _Holder()
    return st.session_state[name]


def process_live_frame(holder: _Holder, rgb: np.ndarray) -> np.ndarray:
    """One video frame: the page's processing, timed; its results table, if any, kept for the page."""
    if not holder.gate.admit():  # over this stream's frame-rate share: show the last result again
        return rgb if holder.last_output is None else holder.last_output
    rgb = holder.gate.shrink(rgb)
    started = time.perf_counter()
    try:
        with live_deadline():
            out = holder.process(rgb)
        if isinstance(out, tuple):
            out, holder.rows = out
        holder.error = None
    except FrameDropped:  # late on the server: this frame is dropped, the next one is newer
        holder.dropped += 1
        return rgb if holder.last_output is None else holder.last_output
    except Exception as exc:  # keep the stream alive; the page shows the message
        holder.error = f"{exc.__class__.__name__}: {exc}"
        out = rgb
    holder.stats.record(time.perf_counter() - started)
    holder.last_output = np.ascontiguousarray(out)
    return holder.last_output


def readout_text(holder: _Holder, engine: str | None = None) -> str:
    fps, latency_ms, frames = holder.stats.summary()
    return (f"**Live:** {fps:.1f} FPS · {latency_ms:.0f} ms per frame · {frames} frames processed"
            + (f" · network on {engine}" if engine else "")
            + (f" · {holder.dropped} dropped (server late)" if holder.dropped else "")
            + (f"  \n:red[{holder.error}]" if holder.error else ""))


def live_video(key: str, process_frame: ProcessFrame, *, show_stats: bool = True, help_text: str | None = None,
               results_title: str | None = None, engine: Callable[[], str] | None = None):
    """Render the live webcam widget; returns the webrtc context (or None in snapshot mode).

    Call it last on a page (or last in its tab): with ``show_stats`` it keeps the script
    running while the stream plays, to refresh the FPS / latency strip under the video and, with
    ``results_title``, the results table beside it. ``engine`` names what runs the network now
    (:func:`cvdemo.fastpath.engine_label`), for the strip.
    """
    holder = _holder(key)
    holder.process = process_frame
    mode = st.radio("Camera mode", ["Live video (WebRTC)", "Snapshot"], key=f"{key}_mode", horizontal=True,
                    help="Live video needs the browser's camera permission and WebRTC (works on localhost; "
                         "a remote server needs HTTPS and, behind NAT, STUN/TURN servers set in CVDEMO_ICE_SERVERS). "
                         "Snapshot works wherever the browser can take a picture.")
    if help_text:
        st.caption(help_text)
    limits = StreamLimits.from_env()
    owner = _stream_owner(key)
    if mode == "Snapshot":
        _snapshot(key, holder)
        return None
    if not STREAMS.has_room(owner, limits.max_streams):
        st.warning(f"All {limits.max_streams} live streams of this lecture are in use. Snapshot mode works the "
                   "same on single pictures; try live video again in a while.")
        _snapshot(key, holder)
        return None
    try:
        import av
        import streamlit_webrtc  # noqa: F401
    except ImportError as exc:  # pragma: no cover - requirements install both
        st.warning(f"Live video is unavailable ({exc}); use Snapshot mode.")
        _snapshot(key, holder)
        return None

    def callback(frame: "av.VideoFrame") -> "av.VideoFrame":
        return av.VideoFrame.from_ndarray(process_live_frame(holder, frame.to_ndarray(format="rgb24")), format="rgb24")

    try:
        servers = ice_servers()
    except SettingError as exc:
        st.error(f"Live video is off: {plain(exc)}. Snapshot mode works meanwhile.")
        _snapshot(key, holder)
        return None
    st.caption("Press **START** and allow camera access. If the browser blocked the camera, re-allow it in the "
               "site settings or switch to Snapshot mode. No camera? Snapshot and upload work too.")
    video_column, table_column = st.columns([3, 2]) if results_title else (st.container(), None)
    with video_column:
        ctx = _streamer(key, callback, limits, servers)
        readout = st.empty()
    table = None
    if table_column is not None:
        table_column.markdown(f"**{results_title}**")
        table_column.caption("The latest processed frame, refreshed twice a second: it can trail the video by that much.")
        table = table_column.empty()
    if show_stats:
        try:
            while ctx.state.playing and STREAMS.hold(owner, limits.max_streams):
                readout.markdown(readout_text(holder, engine() if engine else None))
                if table is not None:
                    table.table(_rows_frame(holder.rows))
                time.sleep(0.5)
        finally:
            STREAMS.release(owner)
        if ctx.state.playing:  # another viewer took the last slot first: this stream's frames go unprocessed
            holder.process = lambda rgb: rgb
            st.warning(f"All {limits.max_streams} live streams are in use; press STOP and use Snapshot mode.")
    return ctx


def _streamer(key: str, callback, limits: StreamLimits, servers: list[dict]):
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    return webrtc_streamer(
        key=key,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": servers},
        media_stream_constraints=limits.media_constraints(),
        video_frame_callback=callback,
        async_processing=True,
    )


def _stream_owner(key: str) -> str:
    """This browser session's stream of ``key`` (one slot each)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    run = get_script_run_ctx()
    return f"{run.session_id if run else 'no-session'}:{key}"


def _snapshot(key: str, holder: _Holder) -> None:
    shot = st.camera_input("Take a picture", key=f"{key}_snapshot")
    if shot is None:
        st.caption("No camera, or permission denied? Allow the camera in the browser's site settings, or use an upload instead.")
        return
    try:
        rgb = load_image(shot.getvalue(), name="webcam snapshot")
    except ImageLoadError as exc:
        st.error(str(exc))
        return
    started = time.perf_counter()
    try:
        out = holder.process(rgb)
    except Exception as exc:  # the same failures the live stream survives: say so, keep the page
        st.error(f"Could not process the snapshot: {exc.__class__.__name__}: {exc}")
        return
    rows = None
    if isinstance(out, tuple):
        out, rows = out
    st.image(out, caption=f"Processed in {(time.perf_counter() - started) * 1000:.0f} ms (this one picture)", width="stretch")
    if rows is not None:
        st.dataframe(rows, hide_index=True, width="stretch")


def _rows_frame(rows: list[dict] | None):
    import pandas as pd

    if not rows:
        return pd.DataFrame({"": ["nothing found in this frame yet"]})
    frame = pd.DataFrame(rows).set_index(next(iter(rows[0])))
    return frame.apply(lambda column: column.map("{:.2f}".format) if column.dtype.kind == "f" else column)
