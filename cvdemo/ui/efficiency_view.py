"""The architectures page's "Efficiency" view: widgets only; the numbers are in
:mod:`cvdemo.architectures.efficiency` and :mod:`cvdemo.architectures.table`."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cvdemo.architectures import efficiency, table

HELP = f"""
The lecture's chart: the **training compute** needed to reach AlexNet's ImageNet accuracy fell
**{efficiency.REDUCTION_2012_TO_2019:g}×** from AlexNet (2012) to EfficientNet-B0 (2019) — halving about every
**{efficiency.HALVING_MONTHS:g} months**, faster than Moore's law doubled transistors ({efficiency.SOURCE}).

The same story at **inference**, counted by this app on torchvision's builders (no weights needed):
multiply-accumulates (MACs) for one 224×224 image, beside torchvision's published top-1 for each
network's original weights and its own published operation count. Training compute and inference
MACs are different quantities (training multiplies the forward cost by the backward pass, the
epochs and the images), so the two panels are not one axis.
"""


def _rows() -> list[dict]:
    missing = table.pending(efficiency.NETWORKS)
    if not missing:
        return table.table(efficiency.NETWORKS)
    bar = st.progress(0.0, text="Counting…")

    def progress(done: int, total: int, title: str) -> None:
        bar.progress(done / max(total, 1), text=f"Counting {title} ({done + 1}/{total}) — once, then cached" if title else "Done")

    rows = table.table(efficiency.NETWORKS, progress=progress)
    bar.empty()
    return rows


def efficiency_section() -> None:
    st.markdown(HELP)
    rows = efficiency.efficiency_rows(_rows())
    reference = next(r for r in rows if r.name == efficiency.REFERENCE)
    st.plotly_chart(efficiency.efficiency_figure(rows, reference), width="stretch", key="arch_efficiency_figure")
    frame = pd.DataFrame([{
        "network": r.title, "year": r.year, "top-1 %": round(r.top1, 1),
        "G MACs (counted here)": round(r.macs / 1e9, 3),
        "G MACs (torchvision's \"GFLOPS\")": r.published_gmacs,
        "MACs × AlexNet's": round(r.relative_macs(reference), 2),
        "≥ AlexNet's top-1": r.at_least_as_accurate(reference),
        "parameters (M)": round(r.params / 1e6, 1),
    } for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch")
    frontier = efficiency.cheapest_at_alexnet_level(rows, reference)
    cheapest = frontier[-1]
    st.markdown(f"**{cheapest.title}** ({cheapest.year}) reaches {cheapest.top1:.1f}% top-1 — AlexNet: {reference.top1:.1f}% — "
                f"with **{reference.macs / cheapest.macs:.1f}× fewer** MACs per image than AlexNet "
                f"({cheapest.macs / 1e9:.3f} G vs {reference.macs / 1e9:.3f} G).")
    st.caption("torchvision's metadata calls its operation counts \"GFLOPS\" but they are multiply-accumulates, which "
               "is why they match the counts here. The counts include convolutions and dense layers only, as the "
               "papers do. EfficientNet-Lite0, the app's offline classifier, is EfficientNet-B0 without "
               "squeeze-and-excitation and with ReLU6; it has no torchvision weights to compare here.")
