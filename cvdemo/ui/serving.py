"""Streamlit glue for serving: where inference runs, the unreachable-server notice, stream capacity."""

from __future__ import annotations

import streamlit as st

from cvdemo.serving.client import serving_client
from cvdemo.serving.lecture import STREAMS, StreamLimits


def serving_notice() -> None:
    """On every page: say so when the inference server is not (yet) answering."""
    client = serving_client()
    if client is None or client.state == "ready":
        return
    if client.state == "connecting":
        st.info(f"Connecting to the inference server ({client.address}); models run in this process meanwhile.")
    else:
        st.warning(f"The inference server ({client.address}) is unreachable, so models run in this process "
                   f"(slower with many viewers). {client.message[:300]}")


def inference_status() -> None:
    """Home: in-process or served (address, replicas, recent batch sizes, queue), and live streams vs capacity."""
    st.subheader("Where inference runs")
    client = serving_client()
    if client is None:
        st.markdown("**In this process** (set `CVDEMO_SERVE` to a Ray address, or `auto`, to use an inference "
                    "server shared by every viewer).")
    else:
        client.wait(2.0)  # a first visit while the app connects: a moment, never longer
        report = client.status()
        if report["state"] != "ready":
            st.markdown(f"**In this process** for now: the server at `{report['address']}` is {report['state']}.")
        else:
            st.markdown(f"**Served** by Ray Serve at `{report['address']}`: each frame is prepared here, batched "
                        "with other viewers' frames on the server, and finished here.")
            rows = [{"deployment": row["deployment"], "replicas": row["replicas"],
                     "recent batch sizes": " ".join(map(str, row["recent_batches"])) or "–",
                     "requests in flight": "–" if row["in_flight"] is None else row["in_flight"],
                     "queue wait p50 (ms)": "–" if row.get("queue_ms_p50") is None else row["queue_ms_p50"]}
                    for row in report["deployments"]]
            st.dataframe(rows, hide_index=True, width="stretch")
    limits = StreamLimits.from_env()
    capacity = "no cap" if limits.max_streams is None else f"of {limits.max_streams}"
    st.markdown(f"**Live streams:** {STREAMS.active()} {capacity} · each up to {limits.width} px wide "
                f"at {limits.fps:g} FPS")
