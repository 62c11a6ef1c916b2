"""Feature benchmarks for the GAN page: what a click costs. Printed by ``cvdemo bench``, never asserted."""

from __future__ import annotations

import torch

from cvdemo.bench import BenchResult, measure
from cvdemo.registry import get

MODEL = "dcgan_faces"


def gan_cases(device: torch.device, runs: int) -> list[BenchResult]:
    spec = get(MODEL)
    if not spec.ready:
        return []
    from cvdemo.gan.generator import to_uint8
    from cvdemo.gan.inspect import feature_mosaic, stage_outputs
    from cvdemo.gan.sampling import animated_gif, interpolate, latent, latents, make_grid

    generator = spec.build(device)
    z64 = latents(0, 64)
    one = latent(0, 0)

    def unfolded_64():
        with torch.inference_mode():
            return to_uint8(generator.network(z64.to(device)))

    def walk_gif():
        frames = generator.generate(interpolate(latent(1), latent(2), 32))
        return animated_gif(frames, duration_ms=60)

    def inside():
        return [feature_mosaic(stage) for stage in stage_outputs(generator, one)]

    return [
        measure("one face (latency)", MODEL, lambda: generator.generate(one), device, runs),
        measure("sample 64 faces, BN not folded (reference)", MODEL, unfolded_64, device, runs),
        measure("sample 64 faces + 8×8 grid", MODEL, lambda: make_grid(generator.generate(z64)), device, runs),
        measure("slerp walk 32 frames + GIF", MODEL, walk_gif, device, runs),
        measure("feature maps of one face (5 stages)", MODEL, inside, device, runs),
    ]


CASES = [gan_cases]
