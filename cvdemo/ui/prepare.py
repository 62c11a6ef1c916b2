"""Streamlit glue for class prep: the Home page's "Prepare for class" button and each page's readiness line."""

from __future__ import annotations

import streamlit as st

from cvdemo.prepare import fetch_all, page_readiness


def readiness_note(page_file: str) -> None:
    """One line under the page's title: how many of its models are ready, and which need a download."""
    readiness = page_readiness(page_file)
    if readiness is None:
        return
    waiting = readiness.need_download + readiness.missing + readiness.corrupt
    if not waiting:
        st.caption(f"✅ All {len(readiness.ready)} models of this page's lessons are ready offline.")
        return
    with st.expander(f"✅ {len(readiness.ready)} models ready · ⬇️ {len(waiting)} need a download "
                     "(Home → Prepare for class fetches them all)"):
        st.markdown("**Ready:** " + ", ".join(readiness.ready))
        if readiness.need_download:
            st.markdown("**Need a download:** " + ", ".join(readiness.need_download))
        if readiness.missing:
            st.markdown("**Missing:** " + ", ".join(readiness.missing) + " (`python -m cvdemo weights` says how to fix)")
        if readiness.corrupt:
            st.markdown("**Corrupt file, never loaded:** " + ", ".join(readiness.corrupt)
                        + " (`python -m cvdemo weights` says how to fix)")


def prepare_for_class() -> None:
    """Fetch every missing model with a progress bar; offline, say what failed and keep the app going."""
    st.caption("Fetches every model that is not on this machine yet (the two-stage detectors, Mask R-CNN, ResNet/VGG, …). "
               "Downloads resume where they stopped and are checked against their sha256 before use. "
               "Same as `python -m cvdemo weights fetch --all`.")
    if not st.button("Prepare for class", key="prepare_for_class", type="primary", icon="⬇️"):
        return
    progress = st.progress(0.0, text="Looking at what is missing…")
    report = fetch_all(on_progress=lambda fraction, text: progress.progress(min(fraction, 1.0), text=text))
    progress.empty()
    if report.fetched:
        st.success("Fetched: " + ", ".join(report.fetched))
    if report.failed:
        st.error(f"Could not fetch {len(report.failed)} model(s); everything already ready keeps working.")
        st.dataframe([{"model": name, "why": why} for name, why in report.failed.items()], hide_index=True, width="stretch")
    elif not report.fetched:
        st.success("Every model is ready: nothing to fetch.")


def show_model_tables(rows: list[dict]) -> None:
    """The Home page's model list: ready models first, then the ones that need a download, each table at its full height."""
    import pandas as pd

    columns = {"title": "model", "task": "task", "size_mb": "size (MB)", "source": "weights from", "licence": "licence",
               "action": "to make it ready"}
    table = pd.DataFrame(rows)
    for status, heading, shown in (("ready", "Ready offline", ["title", "task", "size_mb", "source", "licence"]),
                                   ("downloadable", "Need a download", ["title", "task", "action", "licence"]),
                                   ("missing", "Missing", ["title", "task", "action", "licence"]),
                                   ("corrupt", "Changed on disk: not loaded", ["title", "task", "action", "licence"])):
        part = table[table["status"] == status][shown].rename(columns=columns)
        if part.empty:
            continue
        part = part.astype(object).where(part.notna(), "")  # an unknown size is blank, not "None"
        st.markdown(f"**{heading}** ({len(part)})")
        st.dataframe(part, hide_index=True, width="stretch", height=35 * (len(part) + 1) + 3)
