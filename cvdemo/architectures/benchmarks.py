"""Benchmark cases of the architectures page (``python -m cvdemo bench``): printed, never asserted.

Targets on a 2-core CPU: a linear probe trains in under a second; a fully convolutional class
map of a 448-pixel photo takes well under a second; analysing a 152-layer network's graph
(shapes, MACs, receptive fields) takes a few seconds, once — the table is cached afterwards.
"""

from __future__ import annotations

import torch

from cvdemo.bench import BenchResult, measure, sample_frame


def _probe(device: torch.device, runs: int) -> list[BenchResult]:
    from cvdemo.architectures import transfer
    from cvdemo.registry import get

    spec = get("mobilenet_v2")
    if not spec.ready:
        return []
    backbone = transfer.Backbone(spec.build(device), "mobilenet_v2")
    classes, train, test = transfer.demo_set("objects", train_per_class=8, test_per_class=4, seed=0)
    features = backbone.features([img for img, _ in train])
    labels = [lab for _, lab in train]
    results = [
        measure("linear probe: train 25 epochs on 40 images (target < 1 s)", "mobilenet_v2",
                lambda: transfer.train_head(features, labels, classes, epochs=25, lr=1e-3, weight_decay=1e-2, batch_size=8),
                device, max(1, runs // 3)),
        measure("backbone features of 8 crops", "mobilenet_v2", lambda: backbone.features([img for img, _ in train[:8]]),
                device, max(1, runs // 3)),
    ]
    return results


def _class_map(device: torch.device, runs: int) -> list[BenchResult]:
    from cvdemo.architectures.convolutionalize import class_map
    from cvdemo.registry import get

    spec = get("mobilenet_v2")
    if not spec.ready:
        return []
    classifier = spec.build(device)
    frame = sample_frame()
    return [measure("class map, 448 px shorter side (convolutionalized)", "mobilenet_v2",
                    lambda: class_map(classifier, frame, 448), device, runs)]


def _analysis(device: torch.device, runs: int) -> list[BenchResult]:
    from cvdemo.architectures import catalog
    from cvdemo.architectures.graph import analyse

    network = catalog.get("resnet152").build("meta")
    return [measure("layer graph on meta: shapes, MACs, receptive fields", "resnet152",
                    lambda: analyse(network, (224, 224)), torch.device("cpu"), max(1, runs // 5),
                    note="meta device: independent of the compute device")]


CASES = [_probe, _class_map, _analysis]
