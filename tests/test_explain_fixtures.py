"""Shared fixtures of the explainability tests (imported by the test_explain_* modules).

Session-scoped: the models load once for the whole run. Only the lead edits conftest.py, so they
live here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvdemo import registry


def _ready(name: str) -> bool:
    try:
        return registry.get(name).ready
    except KeyError:
        return False


def require(name: str) -> None:
    if not _ready(name):
        pytest.skip(f"model {name} is not ready on this machine")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    from skimage import data

    return data.chelsea()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    from skimage import data

    return data.coffee()


@pytest.fixture(scope="session")
def mobilenet():
    return registry.load_model("mobilenet_v2", torch.device("cpu"))


@pytest.fixture(scope="session")
def efficientnet():
    return registry.load_model("efficientnet_lite0", torch.device("cpu"))


@pytest.fixture(scope="session")
def chelsea_inputs(mobilenet, chelsea) -> torch.Tensor:
    return mobilenet.preprocess(chelsea)


def test_fixtures_module_has_no_tests_of_its_own():
    """(pytest collects this file because of its name; the fixtures above are what it is for.)"""
    assert callable(require)
