"""Streamlit sections of the face-verification page (layout and widgets; the work is in cvdemo.faces)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from cvdemo.faces import align, draw, losses, metrics, plots, samples
from cvdemo.faces.embedder import DEFAULT_THRESHOLD
from cvdemo.faces.gallery import Gallery, GalleryError, clean_name, identify_all, identify_frame
from cvdemo.faces.verify import Face, FacePipeline, compare, distance_matrix, face_notes, largest, no_face_message
from cvdemo.images import ImageLoadError
from cvdemo.ui.similarity_view import similarity_section
from cvdemo.ui.common import (Samples, cached_model, counted, current_device, current_image, decode_upload, download_png,
                              image_digest, image_input, plain, session_memo)

GALLERY_KEY = "fv_gallery"
CACHE_SIZE = 16  # photos whose faces are kept per session


# ----------------------------------------------------------------------------------------------
# Shared pieces


@st.cache_resource(show_spinner="Loading dlib's 5-point landmark model…")
def _landmarker():
    from cvdemo.faces.shape_predictor import shared_shape_predictor

    return shared_shape_predictor()


def pipeline() -> FacePipeline:
    return FacePipeline(cached_model("mtcnn"), cached_model("dlib_resnet"), landmarker=_landmarker())


def threshold_slider(key: str = "fv_threshold") -> float:
    return st.slider("Distance threshold (same person below it)", 0.05, 1.20, DEFAULT_THRESHOLD, 0.01, key=key,
                     help="dlib's model was trained so that 0.6 separates people; lower is stricter "
                          "(fewer false accepts, more false rejects).")


def gallery() -> Gallery:
    if GALLERY_KEY not in st.session_state:
        st.session_state[GALLERY_KEY] = Gallery()
    return st.session_state[GALLERY_KEY]


FACE_SAMPLES: Samples = {name: partial(samples.sample, name) for name in samples.SAMPLES}


def face_image_input(key: str, label: str, default_sample: str = "astronaut (Eileen Collins)") -> tuple[np.ndarray, str] | None:
    """Upload, webcam snapshot or a face sample photo → (RGB, name), or None. Errors are shown, not raised."""
    return image_input(key, label, default_sample=default_sample, samples=FACE_SAMPLES,
                       upload_label="Photo with a face (PNG, JPEG, WebP…)",
                       sample_label="Sample photo (public domain, from scikit-image)")


def find_faces(image: np.ndarray, name: str, pipe: FacePipeline | None = None) -> list[Face]:
    """Faces of a photo, remembered per session so reruns (slider moves) are instant."""

    def detect() -> list[Face]:
        bar = st.progress(0.0, text=f"Looking for faces in {plain(name)}…")

        def show(fraction: float, text: str) -> None:
            bar.progress(min(1.0, fraction), text=text)

        try:
            return (pipe or pipeline()).faces(image, progress=show)
        finally:
            bar.empty()

    return session_memo("faces", (image_digest(image), str(current_device())), detect, size=CACHE_SIZE)


def pick_face(faces: list[Face], key: str, name: str) -> Face:
    """The largest face unless the user picks another (shown when a photo has several)."""
    if len(faces) == 1:
        return faces[0]
    default = largest(faces).index
    index = st.selectbox(f"{len(faces)} faces in {plain(name)}: which one?", [f.index for f in faces], index=default, key=key,
                         format_func=lambda i: faces[i].label() + (" — largest" if i == default else ""))
    return faces[index]


def show_photo_faces(image: np.ndarray, faces: list[Face], chosen: Face | None, caption: str) -> None:
    colours = [draw.MATCH if chosen is not None and f.index == chosen.index else draw.NEUTRAL for f in faces]
    labels = [str(f.index + 1) for f in faces]
    st.image(draw.annotate(image, [f.box for f in faces], labels, colours, [f.landmarks for f in faces],
                           [f.details for f in faces]), caption=caption, width="stretch")


def notes_for(faces: list[Face], name: str) -> None:
    for note in face_notes(faces, name):
        st.warning(plain(note))


# ----------------------------------------------------------------------------------------------
# Verify


def verify_section() -> None:
    st.markdown("Two photos → detect (MTCNN) → align (5 landmarks, similarity transform) → embed (dlib ResNet, "
                "the **same** network for both: that is the Siamese part) → compare the two 128-D descriptors.")
    threshold = threshold_slider()
    verdict_box = st.container()  # filled once both faces are known, but shown above the photos
    pipe = pipeline()
    chosen: dict[str, Face] = {}
    columns = st.columns(2)
    defaults = ("astronaut (Eileen Collins)", "astronaut, half as bright")
    for column, side, default in zip(columns, ("A", "B"), defaults):
        with column:
            picked = face_image_input(f"fv_{side.lower()}", f"Photo {side}", default_sample=default)
            if picked is None:
                st.info(f"Choose photo {side}.")
                continue
            image, name = picked
            faces = find_faces(image, name, pipe)
            if not faces:
                st.error(plain(no_face_message(name, pipe.min_face_size(image))))
                st.image(image, caption=plain(name), width="stretch")
                continue
            notes_for(faces, name)
            face = pick_face(faces, f"fv_{side.lower()}_face", name)
            chosen[side] = face
            photo, chip = st.columns([3, 1])
            with photo:
                show_photo_faces(image, faces, face, f"{plain(name)}: {len(faces)} face(s); white outline: where the chip is cut")
            chip.image(face.chip, caption=f"aligned chip, face {face.index + 1}", width="stretch")

    if len(chosen) < 2:
        return
    verdict = compare(chosen["A"], chosen["B"], threshold)
    with verdict_box:
        (st.success if verdict.same else st.error)(verdict.sentence())
        st.plotly_chart(plots.distance_bar(verdict.distance, threshold), width="stretch", key="fv_distance_bar")
        if verdict.margin < 0.05:
            st.caption("The distance is within 0.05 of the threshold: a borderline case; another photo would settle it.")

    with st.expander("How the chips were cut (alignment)"):
        st.markdown(
            "dlib's network was trained on chips cut from **dlib's** 5 landmarks (eye corners, nose base): a "
            "**similarity transform** (rotation, uniform scale, shift; least squares) carries them onto fixed positions "
            "of a 150×150 chip, so eyes and nose always sit in the same place. MTCNN's own points (coloured dots: eye "
            "centres, nose tip, mouth corners) are other anatomy, so the pipeline uses them to place a dlib-style face box "
            "(white square) and runs **dlib's 5-point regression-tree cascade** (ported) inside it: its landmarks are the "
            "white crosses. If the two sets disagree (a half-hidden face), MTCNN's points go onto a calibrated template "
            "instead. Large faces are shrunk with dlib's image pyramid first, so the chip is not aliased.")
        cols = st.columns(2)
        for col, side in zip(cols, ("A", "B")):
            face = chosen[side]
            alignment = face.alignment
            col.image(draw.closeup(face_source_image(side), face), caption=f"{side}: MTCNN points (dots), dlib points (crosses), "
                      "dlib box (white), chip outline (cyan)", width=360)
            chip_points = align.dlib_template() if alignment and alignment.method.startswith("dlib") else align.mtcnn_template()
            col.image(draw.chip_with_points(face.chip, chip_points), caption=f"{side}: the chip and its template points", width=220)
            if alignment is not None:
                agreement = "" if alignment.consistency_px is None else f"; MTCNN and dlib points agree within {alignment.consistency_px:.1f} chip px"
                col.caption(f"Aligned with **{alignment.method}**{agreement}. Rotation {np.degrees(face.details.angle):.1f}°, "
                            f"{face.details.scale:.2f} image px per chip px. {alignment.note}")

    with st.expander("How the faces were found (MTCNN cascade)"):
        if st.checkbox("Show the cascade for photo A", key="fv_cascade"):
            cascade_view(pipe)

    with st.expander("Why do these two match? (occlusion)"):
        why_section(chosen["A"], chosen["B"])


def cascade_view(pipe: FacePipeline) -> None:
    """Re-run the detector on photo A keeping every stage: P-Net proposals, R-Net survivors, O-Net faces."""
    source = face_image_input_cached("fv_a")
    if source is None:
        st.info("Pick photo A first.")
        return
    image, _ = source
    result = pipe.detector.run(image, min_face_size=pipe.min_face_size(image))
    if not result.scales:
        st.info("The photo is smaller than P-Net's 12-pixel window at every scale: nothing to scan.")
        return
    st.markdown(f"P-Net scored **{result.windows_scored:,}** 12×12 windows over **{len(result.scales)}** pyramid levels "
                f"(scales {result.scales[0]:.3f} … {result.scales[-1]:.3f}) and proposed **{len(result.stages.get('P-Net', []))}** "
                f"boxes; R-Net kept **{len(result.stages.get('R-Net', []))}**; O-Net returned **{len(result.boxes)}** face(s).")
    cols = st.columns(3)
    for col, stage, colour in zip(cols, ("P-Net", "R-Net", "O-Net"), ((255, 200, 0), (255, 120, 0), (40, 190, 80))):
        boxes = result.stages.get(stage, np.zeros((0, 5)))
        col.image(draw.annotate(image, boxes[:, :4], None, [colour] * len(boxes)), caption=f"after {stage}: {len(boxes)} boxes", width="stretch")


def face_source_image(side: str) -> np.ndarray:
    source = face_image_input_cached(f"fv_{side.lower()}")
    return source[0] if source else np.zeros((10, 10, 3), np.uint8)


def face_image_input_cached(key: str) -> tuple[np.ndarray, str] | None:
    """The photo the input widget ``key`` currently holds, without drawing the widget again."""
    try:
        return current_image(key, FACE_SAMPLES)
    except ImageLoadError:
        return None


def why_section(face_a: Face, face_b: Face) -> None:
    from cvdemo.faces import why

    from cvdemo.colormaps import FACE_MATCH_LEGEND, overlay

    st.markdown("Grey out one patch of a chip at a time and recompute the distance to the other face.")
    st.caption(FACE_MATCH_LEGEND)
    c1, c2, c3 = st.columns(3)
    patch = c1.select_slider("Patch (px)", [15, 20, 30, 40], value=why.DEFAULT_PATCH, key="fv_why_patch")
    stride = c2.select_slider("Stride (px)", [8, 10, 15, 20], value=why.DEFAULT_STRIDE, key="fv_why_stride")
    baseline = c3.selectbox("Covered with", why.BASELINES, key="fv_why_baseline",
                            help="blur: the patch keeps its colour but loses detail; zero: dlib's mean colour; mean: the chip's average colour")
    key = ("fv_why", image_digest(face_a.chip), image_digest(face_b.chip), patch, stride, baseline)
    if st.session_state.get("fv_why_key") != key:
        positions = (int(np.ceil((150 - patch) / stride)) + 1) ** 2
        if not st.button(f"Compute ({2 * positions} forward passes)", key="fv_why_go"):
            return
        bar = st.progress(0.0, text="Occluding…")
        result = why.why_match(cached_model("dlib_resnet"), face_a.chip, face_b.chip, patch=patch, stride=stride,
                               baseline=baseline, progress=lambda f, text: bar.progress(min(1.0, f), text=text))
        bar.empty()
        st.session_state["fv_why_key"] = key
        st.session_state["fv_why_result"] = result
    result = st.session_state["fv_why_result"]
    limit = float(max(np.abs(result.map_a).max(), np.abs(result.map_b).max()))
    cols = st.columns(2)
    # One limit for both chips, so equal colours mean equal effects on both sides.
    cols[0].image(overlay(face_a.chip, result.map_a, True, 0.7, limit), caption="A (vs B's descriptor)", width=300)
    cols[1].image(overlay(face_b.chip, result.map_b, True, 0.7, limit), caption="B (vs A's descriptor)", width=300)
    st.caption(f"Distance {result.distance:.3f}; strongest single effect ±{limit:.3f}; {result.passes} patches per chip "
               f"in {result.seconds:.1f} s.")


# ----------------------------------------------------------------------------------------------
# Gallery


def gallery_section() -> None:
    g = gallery()
    threshold = threshold_slider("fv_gallery_threshold")
    enrol_col, list_col = st.columns([1, 1])
    with enrol_col:
        st.subheader("Enrol a person")
        enrol_form(g)
    with list_col:
        st.subheader(f"Gallery: {counted(len(g.names()), 'person', 'people')}, {counted(len(g), 'photo')}")
        gallery_listing(g)
    st.divider()
    st.subheader("Identify")
    if not len(g):
        st.info("Enrol someone first (or add the sample faces).")
        return
    how = st.radio("Identify faces in", ["A photo", "The live webcam"], key="fv_identify_mode", horizontal=True)
    if how == "A photo":
        identify_photo(g, threshold)
    else:
        identify_live(g, threshold)


def enrol_form(g: Gallery) -> None:
    name = st.text_input("Name", key="fv_enrol_name", placeholder="e.g. Ada")
    source = st.radio("Photos from", ["Upload (several)", "Webcam snapshot", "Sample photo"], key="fv_enrol_source", horizontal=True)
    photos: list[tuple[np.ndarray, str]] = []
    try:
        if source == "Upload (several)":
            for uploaded in st.file_uploader("Photos of this person (one face each works best)", accept_multiple_files=True,
                                             key="fv_enrol_files") or []:
                try:
                    photos.append((decode_upload(uploaded.getvalue(), uploaded.name), uploaded.name))
                except ImageLoadError as exc:  # skip this one, keep the others
                    st.error(f"Skipped: {plain(exc)}")
        elif source == "Webcam snapshot":
            shot = st.camera_input("Take a picture (take several: turn your head a little between them)", key="fv_enrol_camera")
            if shot is not None:
                photos.append((decode_upload(shot.getvalue(), "webcam snapshot"), "webcam snapshot"))
        else:
            choice = st.selectbox("Sample photo", list(samples.SAMPLES), key="fv_enrol_sample")
            photos.append((samples.sample(choice), choice))
    except ImageLoadError as exc:
        st.error(f"Could not use this image: {plain(exc)}")
    pipe = pipeline()
    ready: list[tuple[Face, str]] = []
    for i, (image, photo_name) in enumerate(photos):
        faces = find_faces(image, photo_name, pipe)
        if not faces:
            st.error(plain(no_face_message(photo_name, pipe.min_face_size(image))))
            continue
        notes_for(faces, photo_name)
        face = pick_face(faces, f"fv_enrol_pick_{i}", photo_name)
        ready.append((face, photo_name))
    if ready:
        st.image(draw.tile([f.chip for f, _ in ready], [n for _, n in ready], size=110, columns=5), caption="chips to enrol")
    if st.button(f"Enrol {len(ready)} face(s)" + (f" as {plain(name.strip())}" if name.strip() else ""), key="fv_enrol_go", disabled=not ready):
        try:
            for face, photo_name in ready:
                g.add(name, face.descriptor, face.chip, photo_name)
            st.success(f"Enrolled {len(ready)} face(s) as {plain(name.strip())}.")
        except GalleryError as exc:
            st.error(plain(exc))
    if st.button("Add the sample faces (astronaut ×4, cameraman ×2)", key="fv_enrol_samples",
                 help="Edited copies of two public-domain photos: enough to try every view. Enrol real people for meaningful statistics."):
        added = add_sample_faces(g, pipe)
        if added:
            st.success(f"Added {added} sample faces.")
        else:
            st.info("The sample faces are already in the gallery.")


def add_sample_faces(g: Gallery, pipe: FacePipeline) -> int:
    """Enrol each sample photo once: a second copy would add a zero-distance "same person" pair
    and flatter the error rates."""
    present = {(e.name, e.source) for e in g.entries}
    added = 0
    for sample_name, identity in samples.IDENTITY.items():
        if (clean_name(identity), sample_name) in present:
            continue
        faces = find_faces(samples.sample(sample_name), sample_name, pipe)
        if faces:
            face = largest(faces)
            g.add(identity, face.descriptor, face.chip, sample_name)
            added += 1
    return added


def gallery_listing(g: Gallery) -> None:
    if not len(g):
        st.caption("Nobody enrolled yet. The gallery lives in this browser session; export it to keep it.")
    else:
        st.dataframe(pd.DataFrame([{"person": n, "photos": c} for n, c in g.counts().items()]), hide_index=True, width="stretch")
        chips = [e.chip if e.chip is not None else np.full((150, 150, 3), 200, np.uint8) for e in g.entries]
        st.image(draw.tile(chips, [e.name for e in g.entries], size=90, columns=6))
        remove_col, clear_col = st.columns([2, 1])
        who = remove_col.selectbox("Remove a person", g.names(), key="fv_remove_name")
        if remove_col.button("Remove", key="fv_remove_go") and who:
            g.remove_person(who)
            st.rerun()
        if clear_col.button("Clear gallery", key="fv_clear"):
            g.entries.clear()
            st.rerun()
        c1, c2 = st.columns(2)
        c1.download_button("Export (.json, descriptors only)", g.to_json(), "face_gallery.json", "application/json", key="fv_export_json")
        c2.download_button("Export (.npz, with chips)", g.to_npz(), "face_gallery.npz", "application/octet-stream", key="fv_export_npz")
    uploaded = st.file_uploader("Import a gallery (.json or .npz exported here)", type=["json", "npz"], key="fv_import")
    if uploaded is not None:
        how = st.radio("Imported people", ["Add to the gallery", "Replace the gallery"], key="fv_import_how", horizontal=True)
        if st.button("Import", key="fv_import_go"):
            try:
                imported = Gallery.from_bytes(uploaded.getvalue(), uploaded.name)
                g.import_entries(imported, replace=how.startswith("Replace"))
            except GalleryError as exc:
                st.error(plain(exc))
                return
            st.success(f"Imported {counted(len(imported), 'photo')} of {counted(len(imported.names()), 'person', 'people')}.")
            st.rerun()


def identify_photo(g: Gallery, threshold: float) -> None:
    picked = face_image_input("fv_identify", "Photo to identify", default_sample="astronaut and cameraman (two faces)")
    if picked is None:
        return
    image, name = picked
    pipe = pipeline()
    faces = find_faces(image, name, pipe)
    if not faces:
        st.error(plain(no_face_message(name, pipe.min_face_size(image))))
        return
    results = identify_all(g, faces, threshold)
    labels = [f"{f.index + 1}: {r.label()}" for f, r in zip(faces, results)]
    colours = [draw.MATCH if r.name else draw.NO_MATCH for r in results]
    annotated = draw.annotate(image, [f.box for f in faces], labels, colours)
    st.image(annotated, caption=f"{plain(name)}: nearest enrolled person per face (distance); red: nobody within {threshold:.2f}",
             width="stretch")
    download_png(annotated, "identified.png", key="fv_identify_png")
    rows = []
    for f, r in zip(faces, results):
        row = {"face": f.index + 1, "identified as": r.name or "unknown", "distance": round(r.distance, 3)}
        row.update({f"d({person})": round(d, 3) for person, d in r.per_person.items()})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for f in faces:
        if f.tiny:
            st.warning(f"{plain(f.label().capitalize())} is tiny: its identification is unreliable.")


def identify_live(g: Gallery, threshold: float) -> None:
    from cvdemo.ui.live import live_video

    pipe = pipeline()
    snapshot = Gallery(list(g.entries))  # the video thread reads this copy, never the session's list

    def process(rgb: np.ndarray) -> np.ndarray:
        return identify_frame(pipe, snapshot, rgb, threshold)[0]

    live_video("fv_live", process, help_text="Every face in the stream is detected, aligned, embedded and compared with "
                                             "the gallery; names and distances are drawn on the video.")


# ----------------------------------------------------------------------------------------------
# Metric space


def metric_section() -> None:
    g = gallery()
    threshold = threshold_slider("fv_metric_threshold")
    if len(g) < 2:
        st.info("The metric view needs at least two enrolled photos: enrol people under **Gallery & identify** "
                "(or add the sample faces there).")
        if st.button("Add the sample faces now", key="fv_metric_samples"):
            add_sample_faces(g, pipeline())
            st.rerun()
        return
    descriptors = g.descriptors()
    tags = [f"{e.name} #{sum(1 for x in g.entries[:i + 1] if x.name == e.name)}" for i, e in enumerate(g.entries)]
    st.plotly_chart(plots.distance_heatmap(distance_matrix(descriptors), tags, threshold), width="stretch", key="fv_heatmap")
    st.plotly_chart(plots.pca_scatter(metrics.pca_2d(descriptors), g.labels, tags), width="stretch", key="fv_pca")
    st.caption("PCA keeps the two directions along which the descriptors vary most; distances in the plane are only a shadow "
               "of the 128-D ones (the heatmap above has the true distances).")
    pairs = metrics.pair_distances(descriptors, g.labels)
    if not len(pairs.genuine) or not len(pairs.impostor):
        st.info("Histograms and the ROC curve need at least one person with two photos and at least two people.")
        return
    rates = metrics.rates_at(threshold, pairs.genuine, pairs.impostor)
    c1, c2, c3 = st.columns(3)
    c1.metric("False accept rate", f"{rates.far:.1%}", help=f"{rates.false_accepts} of {rates.impostors} different-person pairs below the threshold")
    c2.metric("False reject rate", f"{rates.frr:.1%}", help=f"{rates.false_rejects} of {rates.genuines} same-person pairs at or above the threshold")
    roc = metrics.roc_curve(pairs.genuine, pairs.impostor)
    eer, eer_threshold = roc.equal_error_rate()
    c3.metric("Equal error rate", f"{eer:.1%}", help=f"where FAR ≈ FRR, at threshold {eer_threshold:.2f}")
    left, right = st.columns(2)
    left.plotly_chart(plots.distance_histograms(pairs.genuine, pairs.impostor, threshold), width="stretch", key="fv_hist")
    right.plotly_chart(plots.roc_figure(roc, rates), width="stretch", key="fv_roc")
    st.plotly_chart(plots.rates_vs_threshold(pairs.genuine, pairs.impostor, threshold), width="stretch", key="fv_rates")


# ----------------------------------------------------------------------------------------------
# Siamese training


def training_section() -> None:
    g = gallery()
    counts = g.counts()
    if len(counts) < 2 or max(counts.values(), default=0) < 2:
        st.info("Pick an anchor, a positive (same person, another photo) and a negative (someone else): the gallery needs "
                "one person with two photos and a second person.")
        if st.button("Add the sample faces now", key="fv_train_samples"):
            add_sample_faces(g, pipeline())
            st.rerun()
        return
    entries = g.entries
    tags = [f"{i + 1}: {e.name}" + (f" — {e.source}" if e.source and e.source != e.name else "") for i, e in enumerate(entries)]
    eligible = [i for i, e in enumerate(entries) if counts[e.name] >= 2]
    c1, c2, c3 = st.columns(3)
    anchor = c1.selectbox("Anchor", eligible, format_func=lambda i: tags[i], key="fv_anchor")
    positives = [i for i, e in enumerate(entries) if e.name == entries[anchor].name and i != anchor]
    negatives = [i for i, e in enumerate(entries) if e.name != entries[anchor].name]
    positive = c2.selectbox("Positive (same person)", positives, format_func=lambda i: tags[i], key="fv_positive")
    negative = c3.selectbox("Negative (someone else)", negatives, format_func=lambda i: tags[i], key="fv_negative")
    chips = [chip if (chip := entries[i].chip) is not None else np.full((150, 150, 3), 200, np.uint8) for i in (anchor, positive, negative)]
    st.image(draw.tile(chips, ["anchor", "positive", "negative"], size=120, columns=3))

    m1, m2, m3 = st.columns(3)
    contrastive_margin = m1.slider("Contrastive margin", 0.1, 2.0, 1.0, 0.05, key="fv_c_margin",
                                   help="Different-person pairs closer than this are pushed apart.")
    triplet_margin = m2.slider("Triplet margin α", 0.0, 1.0, 0.2, 0.01, key="fv_t_margin",
                               help="How much farther the negative must be than the positive.")
    squared = m3.checkbox("Squared distances (FaceNet)", key="fv_t_squared")
    a, p, n = (entries[i].descriptor.astype(np.float64) for i in (anchor, positive, negative))
    same = losses.contrastive_report(a, p, True, contrastive_margin)
    different = losses.contrastive_report(a, n, False, contrastive_margin)
    triplet = losses.triplet_report(a, p, n, triplet_margin, squared)
    dlib_same = losses.dlib_pair_report(a, p, True)
    dlib_diff = losses.dlib_pair_report(a, n, False)
    st.dataframe(pd.DataFrame([
        {"loss": "contrastive, anchor–positive (same)", "value": same.value, "asks for": same.summary},
        {"loss": "contrastive, anchor–negative (different)", "value": different.value, "asks for": different.summary},
        {"loss": f"triplet (margin {triplet_margin:.2f})", "value": triplet.value, "asks for": triplet.summary},
        {"loss": "dlib's loss_metric, anchor–positive", "value": dlib_same.value, "asks for": dlib_same.summary},
        {"loss": "dlib's loss_metric, anchor–negative", "value": dlib_diff.value, "asks for": dlib_diff.summary},
    ]), hide_index=True, width="stretch", column_config={"value": st.column_config.NumberColumn(format="%.4f")})
    st.markdown(f"d(anchor, positive) = **{triplet.distances['anchor–positive']:.3f}**, d(anchor, negative) = "
                f"**{triplet.distances['anchor–negative']:.3f}**. Contrastive loss judges each pair on its own "
                "(absolute targets); the triplet loss only cares that the negative is farther than the positive by α "
                "(a relative target).")
    projection = metrics.pca_2d(g.descriptors())
    which = st.radio("Show the pushes of", ["triplet", "contrastive (both pairs)"], key="fv_push_which", horizontal=True)
    lr = st.slider("Step size for the arrows / one gradient step", 0.05, 2.0, 0.5, 0.05, key="fv_lr")
    if which == "triplet":
        report = triplet
    else:
        combined = [losses.Push("anchor", same.pushes[0].gradient + different.pushes[0].gradient, ""),
                    losses.Push("positive", same.pushes[1].gradient, ""), losses.Push("negative", different.pushes[1].gradient, "")]
        report = losses.LossReport("contrastive", same.value + different.value, combined, "", {})
    st.plotly_chart(plots.loss_pushes(projection, a, p, n, report, scale=lr), width="stretch", key="fv_pushes")
    moved = losses.gradient_step({"anchor": a, "positive": p, "negative": n}, report, lr)
    d_ap = float(np.linalg.norm(moved["anchor"] - moved["positive"]))
    d_an = float(np.linalg.norm(moved["anchor"] - moved["negative"]))
    st.caption(f"After one gradient step of size {lr:g} on the embeddings: d(a,p) {triplet.distances['anchor–positive']:.3f} → "
               f"{d_ap:.3f}, d(a,n) {triplet.distances['anchor–negative']:.3f} → {d_an:.3f}. Real training moves the shared "
               "weights instead, which moves every face's embedding at once.")


# --- the page's views, in the order shown: title → view (cvdemo.ui.views.show_views) ---------------

def similarity_measures_section() -> None:
    similarity_section(gallery(), lambda g: add_sample_faces(g, pipeline()))


VIEWS = {
    "Verify two photos": verify_section,
    "Gallery & identify": gallery_section,
    "Metric space": metric_section,
    "Siamese training": training_section,
    "Similarity measures": similarity_measures_section,
}
