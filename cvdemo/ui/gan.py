"""The GAN page's tabs (layout and widgets; the work is in cvdemo.gan), its per-session memo
and progress bars."""

from __future__ import annotations

import math
import random
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Hashable, Iterator

import numpy as np
import pandas as pd
import streamlit as st
import torch

from cvdemo import registry
from cvdemo.gan import explore, figures, sampling, stats
from cvdemo.gan import inspect as gan_inspect
from cvdemo.gan.generator import IMAGE_SIZE, NZ, FaceGenerator
from cvdemo.gan.sampling import MAX_SEED
from cvdemo.registry import ModelSpec, Task
from cvdemo.ui.autoencoder_view import autoencoder_tab
from cvdemo.ui.common import SessionMemo, cached_model, download_png, model_picker, show_error
from cvdemo.ui.gan2d_view import gan2d_tab

MEMO_ENTRIES = 16  # a 64-face grid is ~0.8 MB: a few per session is cheap, unbounded is not


# The last few results of this session, so moving a slider elsewhere does not regenerate. Not
# st.cache_data: the computations report progress to a bar created outside them, which a cached
# function would replay on every hit.
remember = SessionMemo("gan", size=MEMO_ENTRIES)
remembered = remember.holds


@contextmanager
def progress_bar(text: str) -> Iterator[Callable[[int, int], None]]:
    """A bar for work that takes more than a moment; removed when the work is done."""
    bar = st.progress(0.0, text=text)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=f"{text} {done}/{total}")

    try:
        yield update
    finally:
        bar.empty()


def new_seed(key: str = "gan_seed") -> None:
    """Button callback: a fresh random seed (callbacks run before widgets are created)."""
    st.session_state[key] = random.randint(0, min(MAX_SEED, 999_999))


def select_from_chart(chart_key: str, face_key: str) -> None:
    """Plotly on_select callback: a click on the grid chooses that face."""
    event = st.session_state.get(chart_key)
    if not event:
        return
    selection = event.get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    points = selection.get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    for point in points:
        index = point.get("customdata")
        if isinstance(index, list):  # plotly sends customdata as a list for array-valued data
            index = index[0] if index else None
        if index is None:
            index = point.get("point_index")
        if point.get("curve_number", 1) == 1 and index is not None:
            st.session_state[face_key] = int(index)
            return


# ---------------------------------------------------------------------------------------------
# The tabs

ENLARGE = 6  # 64 px → 384 px for the chosen face
PAD = 2  # make_grid's gap between faces


@dataclass
class GanSession:
    """What every tab works on: the generator and the sidebar's seed, grid size and chosen face."""

    spec: ModelSpec
    generator: FaceGenerator  # the only kind of model registered for Task.GENERATOR
    device: torch.device
    seed: int
    n: int
    face: int

    @cached_property
    def columns(self) -> int:
        return sampling.grid_columns(self.n)

    @cached_property
    def z_grid(self) -> torch.Tensor:
        return sampling.latents(self.seed, self.n)

    @classmethod
    def from_sidebar(cls, device: torch.device) -> GanSession | None:
        """The generator picked on the page and the sidebar's seed, grid size and chosen face
        (None, with a message from the picker, when no generator is ready)."""
        spec = model_picker(Task.GENERATOR, key="gan_model", label="Generator")
        if spec is None:
            return None
        generator = cached_model(spec.name)
        st.session_state.setdefault("gan_seed", 42)
        st.session_state.setdefault("gan_n", 16)
        st.session_state.setdefault("gan_face", 0)
        with st.sidebar:
            st.subheader("Faces")
            seed = int(st.number_input("Seed", 0, sampling.MAX_SEED, step=1, key="gan_seed", persist_state="session",
                                       help="Face k of a seed is the same whatever the grid size."))
            st.button("🎲 New seed", on_click=new_seed, width="stretch")
            n = int(st.slider("Faces in the grid", 1, 64, key="gan_n", persist_state="session"))
            if st.session_state["gan_face"] > n - 1:  # the grid shrank under the chosen face
                st.session_state["gan_face"] = n - 1
            face = int(st.number_input("Chosen face", 0, n - 1, step=1, key="gan_face", persist_state="session",
                                       help="Click a face in the grid, or type its number (0 = top left, row by row)."))
        return cls(spec, generator, device, seed, n, face)

    def grid_faces(self) -> np.ndarray:
        def compute():
            with progress_bar(f"Generating {self.n} faces…") as progress:
                return self.generator.generate(self.z_grid, progress)

        return remember(("grid", self.spec.name, str(self.device), self.seed, self.n), compute)


def sample_tab(session: GanSession) -> None:
    """A grid of faces from one seed; a click on a face enlarges it."""
    n, seed, face, columns, z_grid = session.n, session.seed, session.face, session.columns, session.z_grid
    images = session.grid_faces()
    grid = sampling.make_grid(images, columns, padding=PAD)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figures.grid_figure(grid, n, columns, IMAGE_SIZE, PAD, selected=face),
                        key="gan_grid_chart", on_select=lambda: select_from_chart("gan_grid_chart", "gan_face"),
                        selection_mode="points", config={"displayModeBar": False})
        st.caption(f"Seed {seed}: {n} faces. Click a face to enlarge it.")
        download_png(grid, f"gan_grid_seed{seed}_{n}.png", "Download grid (PNG)", key="gan_dl_grid")
    with right:
        chosen = images[face]
        st.image(sampling.upscale(chosen, ENLARGE),
                 caption=f"Face {face} of seed {seed}: 64×64 native, shown ×{ENLARGE} with a Lanczos filter", output_format="PNG")
        st.image(chosen, caption="native 64×64", width=IMAGE_SIZE, output_format="PNG")
        z = z_grid[face]
        st.caption(f"‖z‖ = {z.norm():.2f} (typical: √{NZ} = {math.sqrt(NZ):.0f}); "
                   f"z[:5] = {', '.join(f'{v:+.2f}' for v in z[:5].tolist())} …")
        c1, c2 = st.columns(2)
        with c1:
            download_png(chosen, f"gan_face_seed{seed}_{face}.png", "Face, 64×64 PNG", key="gan_dl_face")
        with c2:
            download_png(sampling.upscale(chosen, ENLARGE), f"gan_face_seed{seed}_{face}_x{ENLARGE}.png",
                         f"Face, ×{ENLARGE} Lanczos PNG", key="gan_dl_face_big")
    diversity = stats.pixel_diversity(images)
    st.caption(f"Pixel diversity of this grid: {diversity:.3f} (mean pairwise RMS distance, 0 = identical faces). "
               "Command line: `python -m cvdemo generate --seed "
               f"{seed} --n {n} --out faces/` writes the same faces as PNG files.")


def walk_tab(session: GanSession) -> None:
    """Frames along a path in z: between two seeds (slerp or lerp), or a random walk."""
    seed, spec, device, generator = session.seed, session.spec, session.device, session.generator
    mode = st.segmented_control("Walk", ["Between two seeds", "Random walk"], default="Between two seeds",
                                key="gan_walk_mode", required=True, persist_state="session")
    c1, c2, c3, c4 = st.columns(4)
    steps = int(c3.slider("Frames", 2, 64, 16, key="gan_walk_steps", persist_state="session"))
    duration = int(c4.slider("ms per frame (GIF)", 30, 500, 90, step=10, key="gan_walk_ms", persist_state="session"))
    key: tuple[Hashable, ...]
    if mode == "Between two seeds":
        seed_a = int(c1.number_input("Seed A", 0, sampling.MAX_SEED, seed, key="gan_walk_a", persist_state="session"))
        seed_b = int(c2.number_input("Seed B", 0, sampling.MAX_SEED, seed + 1 if seed < sampling.MAX_SEED else 0,
                                     key="gan_walk_b", persist_state="session"))
        method = st.radio("Interpolation", ["slerp", "lerp"], horizontal=True, key="gan_walk_method", persist_state="session",
                          help="slerp follows the sphere where Gaussian samples live; lerp cuts straight through its inside.")
        a, b = sampling.latent(seed_a), sampling.latent(seed_b)
        path = sampling.interpolate(a, b, steps, method)
        key = ("walk", spec.name, str(device), seed_a, seed_b, steps, method)
        st.caption(f"From face 0 of seed {seed_a} to face 0 of seed {seed_b} (each seed's top-left face).")
    else:
        step_size = float(c1.slider("Step size β", 0.02, 1.0, 0.15, step=0.01, key="gan_walk_beta", persist_state="session",
                                    help="z ← √(1−β²)·z + β·ε keeps every frame a typical sample of N(0, I)."))
        c2.caption(f"Starts at face 0 of seed {seed}.")
        path = sampling.random_walk(seed, steps, step_size)
        key = ("random walk", spec.name, str(device), seed, steps, step_size)

    def compute_walk():
        with progress_bar(f"Generating {steps} frames…") as progress:
            frames = generator.generate(path, progress)
        return frames

    frames = remember(key, compute_walk)
    strip_columns = min(steps, 16)
    st.image(sampling.make_grid(frames, strip_columns, padding=PAD), caption="the path, frame by frame (row by row)", output_format="PNG")
    gif = remember(key + ("gif", duration), lambda: sampling.animated_gif(frames, duration_ms=duration))
    g1, g2 = st.columns([1, 2])
    with g1:
        st.image(gif, caption="animated, forth and back (×2 Lanczos)")
        st.download_button("Download GIF", gif, file_name="gan_walk.gif", mime="image/gif", key="gan_dl_gif")
    with g2:
        t = np.linspace(0, 1, steps)
        if mode == "Between two seeds":
            norms = {"slerp": sampling.path_norms(sampling.interpolate(a, b, steps, "slerp")),
                     "lerp": sampling.path_norms(sampling.interpolate(a, b, steps, "lerp"))}
        else:
            norms = {"random walk": sampling.path_norms(path)}
        st.plotly_chart(figures.norms_figure(t, norms, math.sqrt(NZ)), key="gan_norms")
        if mode == "Between two seeds":
            halfway = torch.cat([sampling.slerp(a, b, [0.5]), sampling.lerp(a, b, [0.5])])
            middles = remember(key + ("middles",), lambda: generator.generate(halfway))
            m1, m2, _ = st.columns([1, 1, 2])
            m1.image(sampling.upscale(middles[0], 2), caption=f"halfway, slerp: ‖z‖ = {float(halfway[0].norm()):.1f}",
                     output_format="PNG")
            m2.image(sampling.upscale(middles[1], 2), caption=f"halfway, lerp: ‖z‖ = {float(halfway[1].norm()):.1f}",
                     output_format="PNG")
        st.caption("A 100-D Gaussian sample almost always has ‖z‖ ≈ 10. A straight line between two of them "
                   "sags to ≈ 7 in the middle, a region the generator never saw during training (faces there "
                   "look washed-out and average); slerp stays on the shell.")


def arithmetic_tab(session: GanSession) -> None:
    """A − B + C on the means of picked faces, and faces around the result."""
    n, seed, generator, columns, z_grid = session.n, session.seed, session.generator, session.columns, session.z_grid
    st.markdown(
        "The DCGAN paper's famous example: *smiling woman − neutral woman + neutral man = smiling man*. Single "
        "vectors are too noisy, so each term is the **mean of several picks** (the paper used three). Pick faces "
        "that share a feature (glasses, a hat, a turned head) for A, faces without it for B, and a face to add it to for C."
    )
    if n < 3:
        st.info("Make the grid at least 3 faces large (sidebar) to pick terms from it.")
    else:
        images = session.grid_faces()
        grid = sampling.make_grid(images, columns, padding=PAD)
        st.image(sampling.label_tiles(grid, n, columns, IMAGE_SIZE, PAD), caption=f"seed {seed}, faces by number", output_format="PNG")
        options = list(range(n))
        third = max(1, min(3, n // 3))
        c1, c2, c3 = st.columns(3)
        pick_a = c1.multiselect("A (has the feature)", options, default=options[:third], key="gan_arith_a", persist_state="session")
        pick_b = c2.multiselect("− B (lacks it)", options, default=options[third:2 * third], key="gan_arith_b", persist_state="session")
        pick_c = c3.multiselect("+ C (gets it)", options, default=options[2 * third:3 * third], key="gan_arith_c", persist_state="session")
        pick_a, pick_b, pick_c = ([i for i in pick if i < n] for pick in (pick_a, pick_b, pick_c))
        if not (pick_a and pick_b and pick_c):
            st.warning("Pick at least one face for each of A, B and C.")
        else:
            result = sampling.latent_arithmetic(z_grid[pick_a], z_grid[pick_b], z_grid[pick_c])
            noise_scale = st.slider("Neighbourhood noise (± uniform)", 0.0, 1.0, 0.25, 0.05, key="gan_arith_noise",
                                    persist_state="session", help="The paper added ±0.25 to show the result is a region, not a point.")
            vectors = result.vectors()
            outputs = generator.generate(vectors)
            names = [f"mean A ({len(pick_a)})", f"mean B ({len(pick_b)})", f"mean C ({len(pick_c)})", "A − B + C"]
            cols = st.columns(4)
            for col, image, name, vector in zip(cols, outputs, names, vectors):
                col.image(sampling.upscale(image, 3), caption=f"{name} · ‖z‖ = {vector.norm():.1f}", output_format="PNG")
            around = generator.generate(sampling.neighbours(result.result, 8, noise_scale, seed))
            st.image(sampling.upscale(sampling.make_grid(around, 8, padding=PAD), 2),
                     caption=f"A − B + C with ±{noise_scale:.2f} uniform noise: 8 neighbours", output_format="PNG")
            download_png(sampling.make_grid(np.concatenate([outputs, around]), 4, padding=PAD),
                         f"gan_arithmetic_seed{seed}.png", "Download (PNG)", key="gan_dl_arith")
            st.caption("Means of k Gaussian vectors have ‖z‖ ≈ 10/√k, so the mean faces drift towards the generator's "
                       "'average face'; A − B + C of three-face means is back at ≈ 10.")


def temperature_tab(session: GanSession) -> None:
    """Variety against quality: rows of faces at several temperatures or truncation thresholds."""
    seed, spec, device, generator = session.seed, session.spec, session.device, session.generator
    st.markdown(
        "Sampling *z* from a narrower distribution trades **variety for quality**: the generator is best near the "
        "middle of what it saw in training. **Temperature** multiplies *z* (and its norm) by *T*; the "
        "**truncation trick** (BigGAN) redraws every component beyond ±τ. Each row uses the same base vectors."
    )
    mode = st.segmented_control("Method", ["temperature", "truncation"], default="temperature", key="gan_temp_mode",
                                required=True, persist_state="session",
                                format_func=lambda m: {"temperature": "Temperature (scale ‖z‖)", "truncation": "Truncation trick (τ)"}[m])
    if mode == "temperature":
        choices = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0]
        settings = st.multiselect("Temperatures T", choices, default=[0.0, 0.5, 1.0, 1.5, 2.0], key="gan_temps", persist_state="session")
        setting_name = "temperature T"
    else:
        choices = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]
        settings = st.multiselect("Thresholds τ", choices, default=[0.25, 0.5, 1.0, 2.0, 3.0], key="gan_taus", persist_state="session")
        setting_name = "truncation threshold τ"
    settings = sorted(settings)
    c1, c2 = st.columns(2)
    measured = int(c1.slider("Samples measured per row", 8, 64, 32, step=8, key="gan_temp_n", persist_state="session",
                             help="Diversity and face statistics are computed on this many faces; 8 are shown."))
    use_detector = False
    if registry.is_ready("mtcnn"):
        use_detector = c2.toggle("Also count faces with MTCNN (8 per row, slower)", key="gan_temp_mtcnn", persist_state="session")
    if not settings:
        st.warning("Pick at least one setting.")
    else:
        def compute_sweep():
            with progress_bar("Generating and measuring rows…") as progress:
                return explore.temperature_sweep(generator, seed, settings, measured, mode, progress)

        rows = remember(("sweep", spec.name, str(device), seed, tuple(settings), measured, mode), compute_sweep)
        if use_detector:
            def compute_rates():
                detector = cached_model("mtcnn")
                copies = [explore.SweepRow(**vars(row)) for row in rows]
                with progress_bar("Running MTCNN…") as progress:
                    explore.add_detection_rates(copies, lambda image: detector.detect(image, 0.9), 8, progress)
                return copies

            rows = remember(("sweep rates", spec.name, str(device), seed, tuple(settings), measured, mode), compute_rates)
        for row in rows:
            label, strip = st.columns([1, 6])
            label.markdown(f"**{'T' if mode == 'temperature' else 'τ'} = {row.setting:g}**  \n"
                           f"diversity {row.diversity:.3f}  \nmean ‖z‖ {row.mean_norm:.1f}")
            strip.image(sampling.make_grid(row.images[:8], 8, padding=PAD), output_format="PNG")
        st.plotly_chart(figures.sweep_figure(rows, setting_name), key="gan_sweep_chart")
        table = pd.DataFrame([{
            setting_name: row.setting, "mean ‖z‖": round(row.mean_norm, 2), "pixel diversity": round(row.diversity, 4),
            "clipped pixels": round(row.clipped, 4), "mean-face eye contrast": round(row.eye_contrast, 4),
            "median roughness": round(row.roughness, 3),
            **({"MTCNN face rate": row.detection_rate} if row.detection_rate is not None else {}),
        } for row in rows])
        st.dataframe(table, hide_index=True)
        st.caption("Pixel diversity: mean pairwise RMS distance of the faces (0 = all the same). Clipped pixels: values "
                   "stuck at 0 or 255 where tanh saturates, the first artefact of a z larger than the training inputs. "
                   "Eye contrast: how much darker the eye band of the rows' mean image is than the cheeks, a crude "
                   "'these are aligned faces' signal. Roughness: |Laplacian| relative to contrast; noise scores 3–4, faces ≈ 0.3.")
        st.markdown("Things to notice: **T = 0** is not an average face but the network's answer to a constant input, "
                    "the checkerboard fingerprint of stride-2 transposed convolutions from the segmentation lectures. "
                    "This generator's faces wash out at small T and over-saturate at large T; switch on MTCNN to see "
                    "where a face detector agrees they are faces (in our measurements it peaks around T = 0.75–1).")


def inside_tab(session: GanSession) -> None:
    """The chosen face followed through the generator's stages, and its layer table."""
    seed, face, generator, z_grid = session.seed, session.face, session.generator, session.z_grid
    st.markdown(f"Face **{face}** of seed **{seed}** (choose another in the sidebar or by clicking in *Sample*), "
                "followed through the network. Each stage is a 4×4 transposed convolution (stride 2 doubles the "
                "side), batch norm and ReLU; the last one ends in tanh, whose three maps are R, G and B.")
    shown = int(st.slider("Channels per stage (strongest first)", 4, 64, 16, step=4, key="gan_inside_k", persist_state="session"))
    outputs = gan_inspect.stage_outputs(generator, z_grid[face])
    for stage in outputs:
        with st.container(border=True):
            left, right = st.columns([1, 4])
            left.markdown(f"**{stage.name}**  \n{stage.layers}  \nshape {'×'.join(map(str, stage.shape))}  \n"
                          f"{100 * stage.active_fraction:.0f}% of values > 0")
            k = min(shown, stage.shape[0])
            right.image(gan_inspect.feature_mosaic(stage, k, tile=56, columns=8),
                        caption=f"{k} of {stage.shape[0]} maps, each normalised to its own range; {stage.shape[1]}×{stage.shape[2]} "
                                "pixels enlarged without smoothing", output_format="PNG")
    st.plotly_chart(figures.stage_activity_figure([s.name.split(":")[0] for s in outputs[:-1]],
                                                  [s.active_fraction for s in outputs[:-1]]), key="gan_activity")
    st.subheader("Layers")
    rows = gan_inspect.layer_table(generator.network)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    total = gan_inspect.totals(rows)
    st.caption(f"{total['parameters']:,} parameters; {total['multiply-adds'] / 1e6:.0f} M multiply-adds per face. "
               "A transposed convolution's multiply-adds are in-pixels × C_in × C_out × k², the same as the "
               "convolution it is the transpose of.")


def identity_tab(session: GanSession) -> None:
    """Whether the grid's faces are different people to the face-verification network."""
    n, seed, spec, device, z_grid = session.n, session.seed, session.spec, session.device, session.z_grid
    ready = {name: registry.is_ready(name) for name in ("mtcnn", "dlib_resnet")}
    if not all(ready.values()):
        missing = ", ".join(name for name, ok in ready.items() if not ok)
        st.info(f"This view needs the face detector and embedder of the Face verification page ({missing} not ready).")
    else:
        st.markdown(
            "Are the generated faces different *people*? The face-recognition network of the *Face verification* page "
            "(MTCNN → alignment → dlib ResNet) embeds each face of the grid; two faces closer than 0.6 count as the "
            "same person. Faces are enlarged ×3 with Lanczos first, since the chip is 150 px."
        )
        key = ("identity", spec.name, str(device), seed, n)
        if st.button(f"Embed the {n} faces of seed {seed}", key="gan_identity_run") or remembered(key):
            def compute_identity():
                from cvdemo.faces.verify import FacePipeline

                pipeline = FacePipeline(cached_model("mtcnn"), cached_model("dlib_resnet"))
                with progress_bar("Detecting, aligning and embedding…") as progress:
                    return explore.identity_map(pipeline, session.grid_faces(), z_grid, 3, progress)

            try:
                identity = remember(key, compute_identity)
            except Exception as exc:  # a face-pipeline failure (another page's models): say so, keep this tab
                show_error(exc)
                identity = None
            if identity is not None:
                threshold = float(registry.get("dlib_resnet").metadata.get("threshold", 0.6))
                found = int(identity.found.sum())
                st.metric("Faces MTCNN found", f"{found} of {n}")
                if found >= 2:
                    labels = [f"face {i}" for i in identity.indices]
                    c1, c2 = st.columns(2)
                    c1.plotly_chart(figures.distance_heatmap(identity.distances, labels, threshold), key="gan_id_heat")
                    c2.plotly_chart(figures.latent_vs_identity(identity.latent_distances, identity.distances, threshold),
                                    key="gan_id_scatter")
                    pairs = identity.pair_distances()
                    i, j, d = identity.nearest_pair()
                    st.markdown(f"Median distance between two generated faces: **{np.median(pairs):.3f}**; "
                                f"{int((pairs < threshold).sum())} of {len(pairs)} pairs would pass as the same person. "
                                f"Closest pair: faces {i} and {j} at {d:.3f}.")
                    images = session.grid_faces()
                    p1, p2, p3, p4 = st.columns(4)
                    p1.image(sampling.upscale(images[i], 3), caption=f"face {i}", output_format="PNG")
                    p2.image(sampling.upscale(images[j], 3), caption=f"face {j}", output_format="PNG")
                    p3.image(identity.chip(i), caption=f"face {i}: the aligned chip compared", output_format="PNG")
                    p4.image(identity.chip(j), caption=f"face {j}: the aligned chip compared", output_format="PNG")
                    st.caption("dlib's network was trained on real photos of at least 150 px. Pairs under the threshold "
                               "here say more about how little identity detail a 64-px synthetic face carries than about "
                               "the GAN repeating people; independent samples are all about equally far apart in z "
                               "(‖z_i − z_j‖ ≈ √200 ≈ 14), so the scatter shows no trend. Compare faces along a latent "
                               "walk to see identity change gradually.")


# --- the page's views, in the order shown: title → view (cvdemo.ui.views.show_views) ---------------

VIEWS = {
    "Sample": sample_tab,
    "Latent walk": walk_tab,
    "Latent arithmetic": arithmetic_tab,
    "Temperature": temperature_tab,
    "Inside the generator": inside_tab,
    "Face identity": identity_tab,
    "2-D GAN game": gan2d_tab,
    "Autoencoder": autoencoder_tab,
}
