"""Oracle: TensorFlow.js itself (``@tensorflow/tfjs-core``, ``-backend-cpu`` and ``-converter``,
run by node from ``tests/oracle_js``) executes each pack's ``model.json`` on the input the app
builds from a real photo, and the torch module converted from the same file must give the same
outputs.

Both sides compute in float32 with different kernels (im2col and blocked sums in torch, plain
loops in TF.js's CPU backend), so results agree to rounding: 1e-4 relative to the largest output
magnitude (at least 1) allows for the ~1e-6 relative error of a float32 sum of a few thousand
terms, accumulated over a few dozen layers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvdemo import registry
from cvdemo.models.human_pack import _files
from cvdemo.tfjs.graph import read_model_json

pytestmark = pytest.mark.oracle

ORACLE_DIR = Path(__file__).resolve().parent / "oracle_js"
TOLERANCE = 1e-4
NODE_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    assert node, "node is needed for the TF.js oracle: install Node.js (the set-up needs it for the model pack too)"
    assert (ORACLE_DIR / "node_modules" / "@tensorflow" / "tfjs-converter").is_dir(), \
        "TF.js is not installed for the oracle: run `bash scripts/setup.sh --test` (it runs `npm ci` in tests/oracle_js)"
    return node


def run_tfjs(node: str, model_json: Path, input_name: str, value: np.ndarray, outputs: list[str], workdir: Path) -> list[np.ndarray]:
    value = np.ascontiguousarray(value, dtype="<f4")
    (workdir / "input.f32").write_bytes(value.tobytes())
    request = {"input": {"name": input_name, "shape": list(value.shape), "file": str(workdir / "input.f32")},
               "outputs": outputs, "out_dir": str(workdir)}
    (workdir / "request.json").write_text(json.dumps(request))
    completed = subprocess.run([node, str(ORACLE_DIR / "run_graph.js"), str(model_json), str(workdir / "request.json")],
                               cwd=ORACLE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr[-2000:]
    shapes = json.loads((workdir / "shapes.json").read_text())
    return [np.fromfile(workdir / f"{index}.f32", dtype="<f4").reshape(shape) for index, shape in enumerate(shapes)]


def _photo(name: str) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)())


def _face_crop() -> np.ndarray:
    """The astronaut's face as MTCNN finds it: what the emotion model is given in the app."""
    from cvdemo.faces.mtcnn import build_mtcnn

    image = _photo("astronaut")
    x1, y1, x2, y2 = build_mtcnn(torch.device("cpu")).detect(image).boxes[0].round().astype(int)
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def _graph_input(model: str, photo: np.ndarray) -> tuple[torch.nn.Module, torch.Tensor]:
    """The converted graph module and the NCHW tensor the app feeds it for ``photo``."""
    wrapper = registry.get(model).build("cpu")
    if model == "nanodet":
        rgb, _ = wrapper.preprocess(photo)
        network = wrapper.network
        return network.graph, F.conv2d(rgb, network.normalise_weight, network.normalise_bias)
    if model == "centernet":
        rgb, _ = wrapper.preprocess(photo)
        return wrapper.network.graph, rgb * 255.0
    if model in ("selfie", "meet"):
        return wrapper.network.graph, wrapper.preprocess(photo)
    return wrapper.network, wrapper.preprocess(photo)  # emotion: the graph is the network


CASES = [("nanodet", "astronaut"), ("nanodet", "coffee"), ("centernet", "astronaut"),
         ("selfie", "astronaut"), ("meet", "astronaut"), ("emotion", "face")]


@pytest.mark.parametrize("model,photo", CASES)
def test_the_torch_port_matches_tensorflow_js_on_a_real_photo(model, photo, node, tmp_path):
    json_file, weights_file = _files(model)
    model_json = json_file.path()
    weights_file.path()  # the pinned shard, as in the app
    module, x = _graph_input(model, _face_crop() if photo == "face" else _photo(photo))
    (placeholder,) = [n for n in read_model_json(model_json).nodes.values() if n.op == "Placeholder"]
    declared = list(placeholder.attr("shape") or [])
    channels_last = len(declared) == 4 and declared[-1] == x.shape[1] and declared[1] != x.shape[1]
    with torch.no_grad():
        got = module(x)
    got = got if isinstance(got, tuple) else (got,)
    expected = run_tfjs(node, model_json, placeholder.name, (x.permute(0, 2, 3, 1) if channels_last else x).numpy(),
                        list(module.output_names), tmp_path)
    assert len(expected) == len(got) == len(module.output_names)
    for name, layout, ours, theirs in zip(module.output_names, module.output_layouts, got, expected):
        theirs = torch.from_numpy(theirs)
        if layout.startswith("NCHW") and theirs.dim() == 4:
            theirs = theirs.permute(0, 3, 1, 2)
        assert ours.shape == theirs.shape, name
        allowed = TOLERANCE * max(1.0, float(theirs.abs().max()))
        difference = float((ours - theirs).abs().max())
        assert difference <= allowed, f"{model} {name} on {photo}: max difference {difference:.3g} > {allowed:.3g}"
        assert float(theirs.abs().max()) > 0  # a graph that outputs nothing would pass trivially
