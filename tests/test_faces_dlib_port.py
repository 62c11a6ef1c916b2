"""The dlib face-recognition ResNet port: file parser, converted weights, golden descriptors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cvdemo.faces import dlib_format, embedder
from cvdemo.images import load_image

MODEL_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


@pytest.fixture(scope="module")
def dat_path():
    return embedder.DLIB_RESNET_WEIGHTS.path()


@pytest.fixture(scope="module")
def parsed(dat_path):
    return dlib_format.load(dat_path)


@pytest.fixture(scope="module")
def face_embedder():
    return embedder.build_embedder(torch.device("cpu"))


@pytest.fixture(scope="module")
def golden(shared_facedata):
    from cvdemo.faces import golden

    return golden.load(shared_facedata)


@pytest.fixture(scope="module")
def golden_chips(golden):
    return np.stack([load_image(golden.chip_path(f.chip)) for f in golden.faces])


def test_the_model_file_is_the_one_the_golden_data_used(dat_path):
    from cvdemo.weights import sha256_of

    assert sha256_of(dat_path) == MODEL_SHA256


def test_parser_reads_every_byte_and_every_field(parsed):
    assert parsed.size_bytes == 22_466_066
    assert parsed.loss == "loss_metric_2"
    assert parsed.loss_margin == pytest.approx(0.04, abs=1e-7)
    assert parsed.loss_threshold == pytest.approx(0.6, abs=1e-7)
    assert parsed.mean_rgb == (np.float32(122.782), np.float32(117.001), np.float32(104.298))
    assert parsed.input_size == (150, 150)
    assert parsed.parameter_count() == 5_614_592
    kinds = [r.kind for r in parsed.records]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "con_4": 29, "affine_": 29, "relu_": 29, "max_pool_2": 1, "avg_pool_2": 5, "add_prev_": 14, "fc_2": 1}
    assert parsed.sequence.count("marker") == 22  # 14 tag1 + 4 tag2 + 4 skip1


def test_layout_is_recovered_from_the_tag_markers(parsed):
    layout = dlib_format.residual_units(parsed)
    assert [(u.conv1.params["weight"].shape[1], u.conv1.params["weight"].shape[0], u.down) for u in layout.units] == list(embedder.UNITS)
    assert layout.fc.params["weight_in_out"].shape == (256, 128)
    assert all(u.conv1.params["padding"] == ((0, 0) if u.down else (1, 1)) for u in layout.units)


def test_primitive_encodings():
    reader = dlib_format._Reader(bytes.fromhex("0101 0196 021280 811c 030ad7a3811c 01108104 0100 0101"))
    assert reader.int() == 1
    assert reader.int() == 150
    assert reader.int() == 0x8012
    assert reader.int() == -28
    assert np.float32(reader.scalar()) == np.float32(0.04)  # mantissa first, then exponent
    assert reader.scalar() == 1.0  # 16 * 2**-4
    assert reader.int() == 0  # zero is 01 00, never a bare 00
    assert reader.int() == 1


@pytest.mark.parametrize("data, message", [
    (b"", "file ends"),
    (bytes.fromhex("01 02"), "loss wrapper"),
    (bytes.fromhex("01 01 01 05") + b"wrong", "loss_metric_2"),
])
def test_parser_rejects_other_files(data, message):
    with pytest.raises(dlib_format.DlibFormatError, match=message):
        dlib_format.parse(data)


def test_truncated_file_is_an_error(dat_path):
    data = dat_path.read_bytes()[:1_000_000]
    with pytest.raises(dlib_format.DlibFormatError, match="file ends"):
        dlib_format.parse(data)


def test_converted_weights_are_cached_and_reload_identically(dat_path, face_embedder):
    from cvdemo.weights import converted_cache_path, read_converted

    state = read_converted(converted_cache_path(embedder.CONVERTER_VERSION, [dat_path]), [dat_path])
    assert state is not None, "the converted state dict should be cached under weights/converted"
    fresh = embedder.convert_dat(dat_path)
    assert state.keys() == fresh.keys()
    for key in fresh:
        assert torch.equal(state[key], fresh[key]), key
    # dlib's fc is stored (in, out) and applied as x @ W; torch's Linear holds (out, in).
    layout = dlib_format.residual_units(dlib_format.load(dat_path))
    assert torch.equal(face_embedder.network.fc.weight, torch.from_numpy(layout.fc.params["weight_in_out"].T.copy()))


def test_add_prev_zero_extends_at_the_end_of_each_axis():
    shortcut = torch.ones(1, 2, 4, 4)
    branch = torch.full((1, 3, 3, 3), 10.0)
    out = embedder.add_prev(shortcut, branch)
    assert out.shape == (1, 3, 4, 4)
    assert out[0, 0, 0, 0] == 11 and out[0, 0, 3, 3] == 1  # shortcut only at the bottom-right
    assert out[0, 2, 0, 0] == 10 and out[0, 2, 3, 0] == 0  # extra channel: branch only, then zeros


def test_golden_descriptors_all_chips(golden, golden_chips, face_embedder):
    ours = face_embedder.embed(golden_chips)
    reference = np.stack([f.descriptor for f in golden.faces])
    error = np.abs(ours - reference)
    assert ours.shape == (13, 128)
    assert error.max() <= 1e-5, f"max abs error {error.max():.2e} at chip {golden.faces[int(error.max(1).argmax())].chip}"
    # …and the distance matrix, hence every same/different decision, follows.
    ours_d = np.linalg.norm(ours[:, None].astype(np.float64) - ours[None], axis=-1)
    assert np.abs(ours_d - golden.distances).max() < 1e-5


def test_batch_size_does_not_change_descriptors(golden_chips, face_embedder):
    together = face_embedder.embed(golden_chips[:4])
    alone = np.stack([face_embedder.embed(chip)[0] for chip in golden_chips[:4]])
    assert np.abs(together - alone).max() < 1e-6


def test_intermediate_activations_match_dlib(shared_facedata, golden, golden_chips, face_embedder):
    data = json.loads((shared_facedata / "intermediate.json").read_text())
    index = [f.chip for f in golden.faces].index(data["chip"])
    with torch.inference_mode():
        ours = face_embedder.network.checkpoints(face_embedder.preprocess(golden_chips[index]))
    assert len(data["stages"]) == 10
    for stage in data["stages"]:
        tensor = ours[stage["name"]].numpy().astype(np.float64)
        flat = tensor.reshape(-1)
        assert list(tensor.shape) == stage["shape_nkrc"], stage["name"]
        # float32 summation order differs from dlib's: about 1e-5 absolute mid-network (values up to ~20).
        assert flat.mean() == pytest.approx(stage["mean"], abs=1e-5), stage["name"]
        assert flat.std() == pytest.approx(stage["std"], abs=1e-5), stage["name"]
        assert flat.max() == pytest.approx(stage["max"], abs=5e-5), stage["name"]
        assert np.abs(flat[:5] - stage["first5_flat"]).max() < 5e-5, stage["name"]
        if "values_flat" in stage:
            assert np.abs(flat - np.asarray(stage["values_flat"])).max() < 1e-5, stage["name"]
    # The input itself is exact: (pixel − float32 mean) / 256.
    first = data["stages"][0]
    assert np.array_equal(ours["input"].numpy().reshape(-1)[:5], np.float32(first["first5_flat"]))


def test_bad_chip_shape_is_a_clear_error(face_embedder):
    with pytest.raises(ValueError, match="150×150×3"):
        face_embedder.embed(np.zeros((100, 100, 3), np.uint8))
