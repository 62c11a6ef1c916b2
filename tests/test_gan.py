"""DCGAN face sampling: weights, determinism, latent tools, face sanity, CLI and page."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cvdemo import registry
from cvdemo.gan import explore, inspect as gan_inspect, sampling, stats
from cvdemo.gan.generator import (CHECKPOINT_KEY, WEIGHTS, DCGANGenerator, FaceGenerator, FoldedGenerator,
                                  load_checkpoint, load_generator, to_uint8)
from tests.conftest import ROOT

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def generator() -> FaceGenerator:
    return registry.load_model("dcgan_faces", CPU)


@pytest.fixture(scope="module")
def faces_seed0(generator) -> np.ndarray:
    return generator.generate(sampling.latents(0, 64))


# ---------------------------------------------------------------- weights and model


def test_registry_entry_is_a_ready_mit_generator():
    spec = registry.get("dcgan_faces")
    assert spec.task is registry.Task.GENERATOR
    assert spec.ready, spec.status()
    assert "MIT" in spec.licence
    assert "DigiFace-1M" in spec.description
    assert registry.default_model(registry.Task.GENERATOR).name == "dcgan_faces"


def test_state_dict_loads_strictly_from_the_package_file():
    state = load_checkpoint(WEIGHTS.path())
    network = DCGANGenerator()
    assert set(state) == set(network.state_dict())
    result = network.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # Every tensor came from the file, none is left at its initial value.
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    # Strict loading has teeth: a generator of another width refuses the file.
    with pytest.raises(RuntimeError, match="size mismatch"):
        DCGANGenerator(ngf=32).load_state_dict(state, strict=True)


def test_checkpoint_without_generator_is_an_error(tmp_path):
    path = tmp_path / "other.tar"
    torch.save({"netD_state_dict": {}}, path)
    with pytest.raises(RuntimeError, match=CHECKPOINT_KEY):
        load_checkpoint(path)


def test_folded_batchnorm_network_computes_the_same_function():
    network = load_generator()
    folded = FoldedGenerator(network).eval()
    z = sampling.latents(3, 8)
    with torch.inference_mode():
        reference = network(z)
        fast = folded(z)
    assert reference.shape == fast.shape == (8, 3, 64, 64)
    assert (reference - fast).abs().max().item() < 1e-4
    assert -1.0 <= float(reference.min()) and float(reference.max()) <= 1.0  # tanh range


# ---------------------------------------------------------------- determinism and latent tools


def test_same_seed_gives_the_same_image(generator):
    first = generator.sample(7, 4)
    again = generator.sample(7, 4)
    assert first.shape == (4, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, generator.sample(8, 4))
    # Face k of a seed does not depend on how many faces are drawn.
    assert torch.equal(sampling.latents(7, 9)[:4], sampling.latents(7, 4))
    assert torch.equal(sampling.latents(7, 3, start=2), sampling.latents(7, 5)[2:])
    assert not torch.equal(sampling.latent(7, 0), sampling.latent(7, 1))


def test_seed_range_is_checked():
    with pytest.raises(ValueError):
        sampling.latent(-1)
    with pytest.raises(ValueError):
        sampling.latent(sampling.MAX_SEED + 1)


def test_slerp_endpoints_equal_the_endpoint_samples(generator):
    a, b = sampling.latent(1), sampling.latent(2)
    path = sampling.interpolate(a, b, 16, "slerp")
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    frames = generator.generate(path)
    assert np.array_equal(frames[0], generator.generate(a)[0])
    assert np.array_equal(frames[-1], generator.generate(b)[0])
    # Slerp keeps to the shell where samples live; a straight line sags inside it.
    slerp_norms = sampling.path_norms(path)
    lerp_norms = sampling.path_norms(sampling.interpolate(a, b, 16, "lerp"))
    ends = sorted([float(a.norm()), float(b.norm())])
    assert slerp_norms.min() >= ends[0] - 1e-4 and slerp_norms.max() <= ends[1] + 1e-4
    assert lerp_norms[7] < 0.8 * slerp_norms[7]
    # Consecutive frames are evenly spaced in angle.
    steps = np.linalg.norm(np.diff(path.numpy(), axis=0), axis=1)
    assert steps.max() / steps.min() < 1.2


def test_random_walk_is_seeded_and_stays_on_the_prior():
    walk = sampling.random_walk(5, 200, 0.2)
    assert torch.equal(walk, sampling.random_walk(5, 200, 0.2))
    assert torch.equal(walk[0], sampling.latent(5, 0))
    norms = sampling.path_norms(walk)
    assert 7.0 < norms.min() and norms.max() < 13.0  # a Gaussian's shell, not a drift outwards
    steps = np.linalg.norm(np.diff(walk.numpy(), axis=0), axis=1)
    assert 1.0 < np.median(steps) < 3.0  # β = 0.2 moves ≈ √(2(1−√0.96))·10 ≈ 2 per step
    with pytest.raises(ValueError):
        sampling.random_walk(5, 10, 0.0)


def test_latent_arithmetic_averages_each_term():
    a = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    b = torch.tensor([[1.0, 1.0]])
    c = torch.tensor([[0.0, 4.0], [2.0, 0.0], [1.0, 2.0]])
    result = sampling.latent_arithmetic(a, b, c)
    assert torch.allclose(result.mean_a, torch.tensor([2.0, 1.0]))
    assert torch.allclose(result.result, torch.tensor([2.0, 2.0]))
    assert result.vectors().shape == (4, 2)
    with pytest.raises(ValueError):
        sampling.latent_arithmetic(a, torch.zeros(0, 2), c)
    around = sampling.neighbours(result.result, 50, 0.25, seed=1)
    offsets = around - result.result
    assert offsets.abs().max() <= 0.25 and offsets.abs().max() > 0.2


def test_truncation_and_temperature():
    z = sampling.latents(11, 16)
    cut = sampling.truncate(z, 1.0, seed=11)
    assert cut.abs().max() <= 1.0
    inside = z.abs() <= 1.0
    assert torch.equal(cut[inside], z[inside])  # typical components are kept as they were
    assert torch.allclose(sampling.scale_norm(z, 0.5).norm(dim=1), 0.5 * z.norm(dim=1))


def test_lower_temperature_means_less_diversity_and_fewer_clipped_pixels(generator):
    rows = explore.temperature_sweep(generator, 0, [0.0, 0.5, 1.0, 2.0], n=16)
    assert rows[0].diversity == 0.0  # T = 0: every z is the zero vector, one picture
    assert rows[0].diversity < rows[1].diversity < rows[2].diversity < rows[3].diversity
    # Large T pushes tanh into saturation (measured on 32 faces: 0.3%, 2.7%, 8.2% at T = 0.5, 1, 2).
    assert rows[1].clipped < rows[2].clipped < rows[3].clipped
    assert [round(row.mean_norm, 3) for row in rows[:1]] == [0.0]
    assert all(len(row.images) == 16 for row in rows)
    truncated = explore.temperature_sweep(generator, 0, [0.5, 2.0], n=8, mode="truncation")
    assert truncated[0].diversity < truncated[1].diversity


# ---------------------------------------------------------------- are they faces?
# Floors measured on seeds 0–11 (64 faces each): eye contrast 0.098–0.118, mean-face symmetry
# 0.52–0.86, eye row 27–28, largest roughness 0.40–0.68. An untrained generator, the trained
# weights shuffled, and uniform noise give eye contrast ≤ 0.002 and roughness ≥ 2.9.
EYE_CONTRAST_FLOOR = 0.07
SYMMETRY_FLOOR = 0.4
ROUGHNESS_CEILING = 1.2


def _looks_like_faces(images: np.ndarray) -> bool:
    mean = stats.mean_face_stats(images)
    return (mean.eye_contrast >= EYE_CONTRAST_FLOOR and mean.symmetry >= SYMMETRY_FLOOR and 24 <= mean.eye_row <= 32
            and stats.roughness(images).max() < ROUGHNESS_CEILING)


def test_samples_are_faces_not_noise(faces_seed0, generator):
    mean = stats.mean_face_stats(faces_seed0)
    assert mean.eye_contrast >= EYE_CONTRAST_FLOOR, mean
    assert mean.symmetry >= SYMMETRY_FLOOR, mean
    assert _looks_like_faces(faces_seed0)
    assert _looks_like_faces(generator.generate(sampling.latents(1, 64)))
    assert 0.2 < stats.pixel_diversity(faces_seed0) < 0.4  # measured 0.29: varied, not collapsed


def test_face_statistics_reject_untrained_weights_and_noise():
    z = sampling.latents(0, 64)
    untrained = FaceGenerator(DCGANGenerator().eval(), CPU).generate(z)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 64, 3), dtype=np.uint8)
    assert not _looks_like_faces(untrained)
    assert not _looks_like_faces(noise)


def _require_face_models(*names: str) -> None:
    registered = {spec.name for spec in registry.all_models()}
    for name in names:
        if name not in registered or not registry.get(name).ready:
            pytest.skip(f"the {name} face model is not registered or not ready")


def _mtcnn():
    _require_face_models("mtcnn")
    return registry.load_model("mtcnn", CPU)


# Measured with MTCNN at O-Net ≥ 0.9: seed 0 faces 0–15 → 15 of 16 found (62 of its first 64;
# 30 of 32 for seeds 1 and 2); uniform noise → 0 of 8.
DETECTION_FLOOR = 0.8


def test_face_detector_finds_faces_in_most_samples(faces_seed0):
    detector = _mtcnn()
    rate, scores = stats.face_detection_rate(lambda image: detector.detect(image, 0.9), faces_seed0[:16])
    assert rate >= DETECTION_FLOOR, scores
    noise = np.random.default_rng(1).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    noise_rate, _ = stats.face_detection_rate(lambda image: detector.detect(image, 0.9), noise)
    assert noise_rate <= 0.125


# ---------------------------------------------------------------- inside the generator


def test_stage_outputs_follow_the_dcgan_shapes(generator):
    z = sampling.latent(4, 2)
    outputs = gan_inspect.stage_outputs(generator, z)
    assert [o.shape for o in outputs] == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    assert all(0.0 < o.active_fraction < 1.0 for o in outputs[:-1])
    assert all(o.activation.min() >= 0 for o in outputs[:-1])  # after ReLU
    # The last stage is the picture itself.
    picture = to_uint8(torch.from_numpy(outputs[-1].activation)[None])[0]
    assert np.abs(picture.astype(int) - generator.generate(z)[0]).max() <= 1
    mosaic = gan_inspect.feature_mosaic(outputs[0], channels=16, tile=32, columns=8)
    assert mosaic.shape == (2 * 34 - 2, 8 * 34 - 2) and mosaic.dtype == np.uint8 and mosaic.max() == 255


def test_layer_table_counts_parameters_and_shapes(generator):
    rows = gan_inspect.layer_table(generator.network)
    assert rows[1]["output shape"] == "512×4×4" and rows[-1]["output shape"] == "3×64×64"
    total = gan_inspect.totals(rows)
    assert total["parameters"] == sum(p.numel() for p in generator.network.parameters()) == 3_576_704
    # 100·512·16 + 3 × 33.5 M + 64·3·16·1024
    assert total["multiply-adds"] == 104_628_224


# ---------------------------------------------------------------- pictures


def test_grid_gif_and_upscale_shapes(faces_seed0):
    grid = sampling.make_grid(faces_seed0[:10], columns=4, padding=2)
    assert grid.shape == (3 * 66 + 2, 4 * 66 + 2, 3)
    top, left = sampling.tile_origin(5, 4, (64, 64), 2)
    assert np.array_equal(grid[top:top + 64, left:left + 64], faces_seed0[5])
    big = sampling.upscale(faces_seed0[0], 4)
    assert big.shape == (256, 256, 3)
    labelled = sampling.label_tiles(grid, 10, 4, 64)
    assert labelled.shape == (grid.shape[0] * 2, grid.shape[1] * 2, 3)
    gif = sampling.animated_gif(faces_seed0[:5], duration_ms=50, boomerang=True, factor=2)
    with Image.open(io.BytesIO(gif)) as picture:
        assert picture.format == "GIF" and picture.size == (128, 128)
        assert picture.n_frames == 5 + 3  # forth and back without repeating the ends


def test_grid_figure_has_one_clickable_point_per_face(faces_seed0):
    from cvdemo.gan.figures import grid_figure

    grid = sampling.make_grid(faces_seed0[:9], 3)
    figure = grid_figure(grid, 9, 3, selected=4)
    points = figure.data[1]
    assert list(points.customdata) == list(range(9))
    assert (points.x[4], points.y[4]) == (2 + 66 + 32, 2 + 66 + 32)
    assert len(figure.layout.shapes) == 1


# ---------------------------------------------------------------- command line


def test_cli_same_seed_writes_identical_files(tmp_path, cli):
    first = cli("generate", "--seed", "5", "--n", "3", "--out", str(tmp_path / "a"), "--device", "cpu")
    assert first.returncode == 0, first.stderr
    second = cli("generate", "--seed", "5", "--n", "3", "--out", str(tmp_path / "b"), "--device", "cpu")
    assert second.returncode == 0, second.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert len(one["faces"]) == 3 and one["grid"]
    for path_a, path_b in zip(one["faces"] + [one["grid"]], two["faces"] + [two["grid"]]):
        assert open(path_a, "rb").read() == open(path_b, "rb").read()
    face = np.asarray(Image.open(one["faces"][1]))
    assert face.shape == (64, 64, 3)
    # The files are the generator's faces 0…2 of seed 5, as the page shows them.
    expected = registry.load_model("dcgan_faces", CPU).sample(5, 3)
    assert np.array_equal(face, expected[1])


def test_cli_rejects_bad_counts(tmp_path, cli):
    result = cli("generate", "--seed", "1", "--n", "0", "--out", str(tmp_path))
    assert result.returncode == 2 and "--n" in result.stderr


# ---------------------------------------------------------------- the page


def _page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "pages" / "4_GAN_faces.py"), default_timeout=180)


@pytest.mark.page
def test_page_samples_and_enlarges_the_chosen_face():
    at = _page().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.radio(key="gan_tab").options)[:5] == ["Sample", "Latent walk", "Latent arithmetic", "Temperature", "Inside the generator"]
    at.sidebar.number_input(key="gan_face").set_value(5)
    at.run()
    assert not at.exception
    captions = " ".join(caption for image in at.get("image") for caption in image.captions if caption)
    assert "Face 5 of seed 42: 64×64 native, shown ×6 with a Lanczos filter" in captions
    labels = [b.label for b in at.get("download_button")]
    assert {"Download grid (PNG)", "Face, 64×64 PNG"} <= set(labels)
    at.sidebar.button[0].click()  # 🎲 New seed
    at.run()
    assert not at.exception and at.session_state["gan_seed"] != 42
    # Shrinking the grid under the chosen face moves the choice instead of failing.
    at.sidebar.slider(key="gan_n").set_value(4)
    at.run()
    assert not at.exception and at.session_state["gan_face"] == 3


@pytest.mark.page
@pytest.mark.parametrize("tab", ["Latent walk", "Latent arithmetic", "Temperature", "Inside the generator", "Face identity"])
def test_page_tabs_render(tab):
    at = _page()
    at.session_state["gan_tab"] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    if tab == "Temperature":
        table = at.dataframe[0].value
        assert list(table["temperature T"]) == [0.0, 0.5, 1.0, 1.5, 2.0]
        assert table["pixel diversity"].iloc[0] == 0.0 and table["pixel diversity"].is_monotonic_increasing
    if tab == "Inside the generator":
        layers = at.dataframe[0].value
        assert "ConvTranspose2d" in set(layers["type"])
    if tab == "Latent walk":
        assert any(b.label == "Download GIF" for b in at.get("download_button"))


@pytest.mark.page
def test_page_face_identity_embeds_the_grid():
    _require_face_models("mtcnn", "dlib_resnet")
    at = _page()
    at.session_state["gan_n"] = 4
    at.session_state["gan_tab"] = "Face identity"
    at.run()
    button = at.button(key="gan_identity_run")
    assert button.label == "Embed the 4 faces of seed 42"
    button.click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    found = at.metric[0]
    assert found.label == "Faces MTCNN found"
    assert int(found.value.split(" of ")[0]) >= 3  # measured: 4 of 4
    assert any("Median distance between two generated faces" in m.value for m in at.markdown)
    chips = [image for image in at.get("image") if any("the aligned chip compared" in c for c in image.captions)]
    assert len(chips) == 2  # the closest pair, as the embedder saw it


def test_identity_map_hands_out_the_chip_of_each_found_face_only():
    from cvdemo.gan.explore import IdentityMap

    chips = np.stack([np.full((150, 150, 3), value, np.uint8) for value in (10, 20)])
    identity = IdentityMap(found=np.array([True, False, True]), descriptors=np.zeros((2, 128), np.float32),
                           distances=np.zeros((2, 2)), latent_distances=np.zeros((2, 2)), chips=chips)
    assert identity.chip(0)[0, 0, 0] == 10 and identity.chip(2)[0, 0, 0] == 20
    with pytest.raises(KeyError, match="no face in grid face 1"):
        identity.chip(1)
