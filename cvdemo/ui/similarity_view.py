"""The "Similarity measures" view of the face-verification page: five ways to compare descriptors."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from cvdemo.faces import similarity
from cvdemo.faces.gallery import Gallery

HELP = """
A Siamese network only gives each face a vector f(x) of 128 numbers; **how** two vectors are
compared is a separate choice. The lectures list two **distances** (low = same person) — the L2
and L1 norms of the difference — and three **similarities** (high = same) — the dot product, the
cosine ("arc cosine") and the radial basis function (RBF). Each is scored here on the gallery's
same-person and different-person pairs, and checked against what the lectures ask of a **metric**
(it is symmetric and follows the triangle inequality) and of a **kernel** (positive semi-definite).
"""


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def similarity_section(g: Gallery, add_sample_faces: Callable[[Gallery], object]) -> None:
    """The measures scored on gallery ``g``; ``add_sample_faces(g)`` enrols the sample photos when it is too small."""
    st.markdown(HELP)
    labels = g.labels
    if len(g) < 3 or len(set(labels)) < 2 or len(set(labels)) == len(labels):
        st.info("This view needs at least one person with two photos and a second person: enrol people under "
                "**Gallery & identify** (or add the sample faces).")
        if st.button("Add the sample faces now", key="fv_sim_samples"):
            add_sample_faces(g)
            st.rerun()
        return
    descriptors = g.descriptors()
    median = similarity.default_sigma(descriptors)
    sigma = st.slider("RBF width σ", 0.05, 2.0, round(median, 2), 0.01, key="fv_sim_sigma",
                      help=f"Default: the median distance between two gallery faces ({median:.2f}), so that a typical "
                           "pair scores e⁻¹ ≈ 0.37.")
    reports = [similarity.report(name, descriptors, labels, sigma) for name in similarity.MEASURES]
    rows = []
    for r in reports:
        measure = similarity.MEASURES[r.name]
        rows.append({
            "measure": r.name, "formula": measure.formula, "kind": measure.kind,
            "AUC": round(r.auc, 4), "EER": f"{r.eer:.1%}", "threshold at EER": round(r.eer_threshold, 3),
            "d(x, x) = 0": _mark(r.zero_self), "d ≥ 0": _mark(r.non_negative),
            "symmetric": _mark(r.symmetric),
            "triangle inequality": "✓" if not r.triangle_violations else f"✗ {r.triangle_violations} of {r.triangle_checked}",
            "PSD kernel (min eigenvalue)": "—" if r.gram_min_eigenvalue is None else
            f"{_mark(r.gram_min_eigenvalue >= -1e-9)} {r.gram_min_eigenvalue:.2e}",
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(f"{len(g)} photos of {len(set(labels))} people: {len(reports[0].genuine)} same-person and "
               f"{len(reports[0].impostor)} different-person pairs; every ordered triple of distinct photos is checked. "
               "Axioms are checked on a dissimilarity: the distance itself, 1 − s for the cosine and the RBF, −s for the "
               "dot product (which is not bounded, so no constant turns it into a distance).")
    st.plotly_chart(similarity.roc_figure(reports), key="fv_sim_roc")
    squared = next(r for r in reports if r.name == "squared L2")
    st.markdown(
        "**The slide writes the L2 distance squared, ‖f(xᵢ) − f(xⱼ)‖₂².** That orders pairs exactly as the L2 "
        "distance does (same ROC, same AUC), but it is **not a metric**: "
        + (f"here {squared.triangle_violations} triples break the triangle inequality." if squared.triangle_violations
           else "no triple of this gallery happens to break the triangle inequality, but three points on a line "
                "at 0, 1 and 2 do: 4 > 1 + 1."))
    broken = [r for r in reports if r.worst_triangle is not None and r.name != "dot product"]
    if broken:
        pick = st.selectbox("Show the worst broken triangle of", [r.name for r in broken], key="fv_sim_triangle")
        # (the second test only narrows the type: broken holds reports with a broken triangle)
        a, b, c = next(x.worst_triangle for x in broken if x.name == pick and x.worst_triangle is not None)
        values = similarity.axiom_form(pick, similarity.pairwise(pick, descriptors, sigma))
        tags = [f"{e.name} #{i + 1}" for i, e in enumerate(g.entries)]
        columns = st.columns(4)
        for column, index, role in zip(columns, (a, b, c), "abc"):
            chip = g.entries[index].chip
            if chip is not None:
                column.image(chip, caption=f"{role}: {tags[index]}", width=120)
        columns[3].markdown(f"d(a, c) = **{values[a, c]:.4f}**  \nd(a, b) + d(b, c) = {values[a, b]:.4f} + "
                            f"{values[b, c]:.4f} = **{values[a, b] + values[b, c]:.4f}**  \nso going through b is "
                            "\"shorter\" than going straight.")
    best = max(reports, key=lambda r: (r.auc, -r.eer))
    worst = min(reports, key=lambda r: (r.auc, -r.eer))
    lengths = np.linalg.norm(descriptors, axis=1)
    ranking = (f"every measure separates these pairs equally well (AUC {best.auc:.4f}); enrol more people to see them "
               "differ." if best.auc == worst.auc and best.eer == worst.eer else
               f"{best.name} separates the pairs best (AUC {best.auc:.4f}) and {worst.name} worst (AUC {worst.auc:.4f}).")
    st.caption(f"On this gallery {ranking} The descriptors' lengths range from {lengths.min():.3f} to {lengths.max():.3f}: "
               "where they are nearly equal, L2, the angle and the cosine rank pairs almost the same way, while the dot "
               "product also rewards long vectors. dlib's network was trained with the L2 distance.")
