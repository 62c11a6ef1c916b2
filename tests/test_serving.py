"""Served models give what in-process models give, batched across callers, through a real local Ray.

One Ray head for the module (2 CPUs, no dashboard, every service on 127.0.0.1, its own temp
dir), all servable models deployed once; shut down at the end. Tolerances are the batch
tests' (tests/test_batching.py): the server may run a frame in a batch with others.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

if importlib.util.find_spec("ray") is None:  # not imported here: cvdemo sets Ray's loopback switch first
    pytest.skip("Ray is in requirements-serve.txt", allow_module_level=True)

from cvdemo import registry  # noqa: E402
from cvdemo.results import Classification, Detections, SemanticMask  # noqa: E402
from cvdemo.serving import SERVED_STAGES, FrameDropped  # noqa: E402
from cvdemo.serving.client import ServingClient, live_deadline, served  # noqa: E402

pytestmark = pytest.mark.serve

ROOT = Path(__file__).resolve().parent.parent
BASE_PORT = int(os.environ.get("CVDEMO_TEST_RAY_PORT", "8640"))
RELATIVE = 1e-5
MODELS = [m for m in SERVED_STAGES if registry.is_ready(m)]


@pytest.fixture(scope="module")
def server():
    from cvdemo.serving.cluster import LocalHead
    from cvdemo.serving.deployment import ServeOptions, deploy, wait_until_running

    head = LocalHead(BASE_PORT, num_cpus=2)
    try:
        address = head.start(timeout_s=120)
        # a long batch wait makes a burst of concurrent requests land in one batch; eager replicas
        # (the compiled back ends are held to eager by tests/test_fastpath.py) so that served must
        # equal in-process to float32 rounding
        wait_until_running(deploy(MODELS, ServeOptions(max_batch_size=8, batch_wait_s=0.05, max_replicas=1,
                                                       backend="eager")), timeout_s=600)
        client = ServingClient(address)
        assert client.wait(120) == "ready", client.message
        yield client
    finally:
        head.stop()


@pytest.fixture(scope="module")
def local_models():
    return {name: registry.load_model(name, "cpu") for name in MODELS}


@pytest.fixture(scope="module")
def photos():
    from skimage import data

    return [np.ascontiguousarray(data.astronaut()), np.ascontiguousarray(data.chelsea())]


def requests_served(client: ServingClient, model: str, stage: str = "forward") -> int:
    return client.replica_stats(model, stage)["requests"]


def single_call(wrapper, image):
    for method in ("detect", "segment", "classify"):
        if hasattr(wrapper, method):
            return getattr(wrapper, method)(image)
    raise AssertionError(f"{wrapper} has no single-image call")


@pytest.mark.parametrize("name", [m for m in MODELS if m not in ("dlib_resnet", "mtcnn")])
def test_served_image_models_answer_like_in_process_ones(server, local_models, photos, name):
    local = local_models[name]
    remote = served(local, name, server)
    before = requests_served(server, name)
    for photo in photos:
        expected, result = single_call(local, photo), single_call(remote, photo)
        if isinstance(expected, Detections):
            assert result.label_names == expected.label_names
            np.testing.assert_allclose(result.boxes, expected.boxes, rtol=0, atol=RELATIVE * max(photo.shape[:2]))
            np.testing.assert_allclose(result.scores, expected.scores, rtol=0, atol=RELATIVE)
        elif isinstance(expected, SemanticMask):
            logit_range = float(local.forward(local.prepare(photo).inputs)[0].abs().max())
            np.testing.assert_allclose(result.probabilities, expected.probabilities, rtol=0, atol=RELATIVE * logit_range / 4)
        else:
            assert isinstance(expected, Classification)
            np.testing.assert_allclose(result.probabilities, expected.probabilities, rtol=0, atol=RELATIVE)
    assert requests_served(server, name) == before + len(photos)  # they really went to the server


def test_served_face_models_answer_like_in_process_ones(server, local_models, shared_facedata):
    chips = np.stack([np.asarray(Image.open(shared_facedata / "chips" / name).convert("RGB"))
                      for name in ("obama2_face0.png", "biden_face0.png")])
    embedder = local_models["dlib_resnet"]
    np.testing.assert_allclose(served(embedder, "dlib_resnet", server).embed(chips), embedder.embed(chips), rtol=0, atol=RELATIVE)

    photo = np.asarray(Image.open(shared_facedata / "images" / "obama_and_biden.jpg").convert("RGB"))
    mtcnn = local_models["mtcnn"]
    before = [requests_served(server, "mtcnn", stage) for stage in SERVED_STAGES["mtcnn"]]
    expected, result = mtcnn.detect(photo), served(mtcnn, "mtcnn", server).detect(photo)
    assert len(result) == len(expected) >= 2
    np.testing.assert_allclose(result.boxes, expected.boxes, rtol=0, atol=RELATIVE * max(photo.shape[:2]))
    np.testing.assert_allclose(result.insight.landmarks, expected.insight.landmarks, rtol=0, atol=RELATIVE * max(photo.shape[:2]))
    after = [requests_served(server, "mtcnn", stage) for stage in SERVED_STAGES["mtcnn"]]
    assert [a - b for a, b in zip(after, before)] == [1, 1]  # R-Net and O-Net each ran on the server


def test_a_burst_of_concurrent_frames_is_batched(server, local_models, photos):
    wrapper = local_models["nanodet"]
    frame = wrapper.prepare(photos[0]).inputs.numpy()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: server.forward("nanodet", "forward", frame), range(16)))
    alone = wrapper.forward(wrapper.prepare(photos[0]).inputs)
    for reply in replies:
        np.testing.assert_allclose(reply[0], alone[0].numpy(), rtol=0, atol=RELATIVE)
    batches = server.replica_stats("nanodet")["recent_batches"]
    assert max(batches) > 1, batches
    status = server.status(timeout_s=10)
    row = next(r for r in status["deployments"] if r["deployment"] == "cvdemo-nanodet")
    assert row["replicas"] == 1 and max(row["recent_batches"]) > 1


def test_a_live_frame_that_misses_its_deadline_is_dropped(server, local_models, photos):
    remote = served(local_models["nanodet"], "nanodet", server)
    with live_deadline(1e-6), pytest.raises(FrameDropped):
        remote.detect(photos[0])
    assert server.state == "ready"  # a late frame is not a dead server
    assert len(remote.detect(photos[0])) >= 1  # outside live views the same model still answers


@pytest.mark.page
def test_the_app_renders_a_detection_and_a_segmentation_that_went_through_the_server(server, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CVDEMO_SERVE", server.address)
    detector = registry.default_model(registry.Task.DETECTION).name
    segmenter = registry.default_model(registry.Task.SEMANTIC_SEGMENTATION).name
    before = requests_served(server, detector), requests_served(server, segmenter)

    detection = AppTest.from_file(str(ROOT / "pages" / "1_Detection.py"), default_timeout=600)
    detection.session_state["det_tab"] = "📷 Photos"
    detection.run()
    assert not detection.exception, detection.exception
    assert int(next(m.value for m in detection.metric if m.label == "Boxes shown")) >= 1
    assert not detection.warning or all("unreachable" not in w.value for w in detection.warning)

    segmentation = AppTest.from_file(str(ROOT / "pages" / "2_Segmentation.py"), default_timeout=600)
    segmentation.run()
    assert not segmentation.exception, segmentation.exception
    assert len(segmentation.get("image")) >= 1

    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    home.run()
    assert not home.exception, home.exception
    assert any("Served" in m.value and server.address in m.value for m in home.markdown)
    assert any("Live streams:" in m.value for m in home.markdown)

    after = requests_served(server, detector), requests_served(server, segmenter)
    assert after[0] > before[0] and after[1] > before[1]


def test_an_unreachable_server_means_in_process_with_a_message_never_a_hang(tmp_path):
    """A fresh process pointed at a port where nothing listens: answers come at once, from in-process."""
    script = (
        "import time, numpy as np\n"
        "from skimage import data\n"
        "from cvdemo import registry\n"
        "from cvdemo.serving.client import serve_if_configured, serving_client\n"
        "local = registry.load_model('nanodet', 'cpu')\n"
        "model = serve_if_configured(local, 'nanodet')\n"
        "assert model is not local, 'a served copy'\n"
        "started = time.monotonic()\n"
        "found = model.detect(np.ascontiguousarray(data.astronaut()))\n"
        "assert len(found) >= 1 and time.monotonic() - started < 20\n"
        "client = serving_client()\n"
        "import json; print(json.dumps([client.wait(90), client.message]))\n"
    )
    env = dict(os.environ, CVDEMO_SERVE=f"127.0.0.1:{BASE_PORT + 9}", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    state, message = json.loads(done.stdout.strip().splitlines()[-1])
    assert state == "unreachable" and str(BASE_PORT + 9) in message


def test_loadtest_against_the_server_reports_batches(server):
    done = subprocess.run([sys.executable, "-m", "cvdemo", "loadtest", "--model", "nanodet", "--streams", "4",
                           "--seconds", "4", "--backend", "serve", "--address", server.address, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["backend"] == "serve" and report["frames"] >= 4
    assert report["frames"] + report["dropped"] <= 4 * 30 * 4 + 4
    assert 1 <= report["mean_batch"] <= report["max_batch"] <= 8
