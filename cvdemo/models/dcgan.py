"""The DCGAN face generator: 100 random numbers in, a 64×64 face out."""

from __future__ import annotations

import torch

from cvdemo.gan.generator import IMAGE_SIZE, NZ, WEIGHTS, FaceGenerator, load_generator
from cvdemo.registry import ModelSpec, Task

BENCH_FACES = 64


def build(device: torch.device) -> FaceGenerator:
    return FaceGenerator(load_generator(WEIGHTS.path()), device)


def _bench(generator: FaceGenerator):
    from cvdemo.gan.sampling import latents

    z = latents(0, BENCH_FACES)  # drawn once: the case times the network and the uint8 conversion
    return f"sample {BENCH_FACES} faces (z → 64×64 uint8)", lambda: generator.generate(z)


SPECS = [
    ModelSpec(
        name="dcgan_faces",
        title="DCGAN faces (DigiFace-1M, 64×64)",
        task=Task.GENERATOR,
        builder=build,
        weights=(WEIGHTS,),
        licence="MIT (gan-face-generate 1.1.1, Chien Liu)",
        description="The DCGAN generator of Radford et al. (2016): five transposed convolutions from a 100-D "
                    "z to a 64×64 RGB face, trained on Microsoft's synthetic DigiFace-1M faces.",
        family="DCGAN generator",
        offline_rank=10,
        metadata={"bench": _bench, "nz": NZ, "output_size": (IMAGE_SIZE, IMAGE_SIZE), "dataset": "DigiFace-1M"},
    ),
]
