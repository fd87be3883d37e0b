"""Shared helpers for the parity tests: diffusers is the oracle."""

from __future__ import annotations

import numpy as np
import pytest


def assert_matches_oracle(
    ours: np.ndarray, ref: np.ndarray, rel: float = 1e-6, what: str = "", magnitude: float = 1.0
) -> None:
    """Same non-finite pattern (nan, +inf, -inf) and finite values within ``rel`` relative to the
    magnitude of the computation: max(1, max |ref|, ``magnitude``), where ``magnitude`` is the size of
    the intermediate terms when they exceed the result (cancellation, clipping)."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(ours), finite, err_msg=f"{what}: non-finite pattern differs")
    np.testing.assert_array_equal(ours[~finite], ref[~finite], err_msg=f"{what}: non-finite values differ")
    if finite.any():
        scale = max(1.0, float(np.abs(ref[finite]).max()), magnitude)
        err = float(np.abs(ours[finite] - ref[finite]).max())
        assert err <= rel * scale, f"{what}: max abs error {err:.3g} > {rel:g} x {scale:.3g}"


@pytest.fixture(scope="session")
def torch():
    """The oracle's tensor library (part of the test extra)."""
    import torch as _torch

    return _torch


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """Tiny diffusers pipelines, ControlNets and their ONNX exports, built once per session on demand."""
    from tiny_models import TinyModelZoo

    return TinyModelZoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session", autouse=True)
def optimized_graph_cache(tmp_path_factory):
    """Pipelines keep ONNX Runtime's optimized graphs in a cache (on by default); the tests use one of
    their own, so they exercise both the storing and the cached path without touching the user's."""
    import os

    from ortdiffusion.cache_dir import CACHE_ENV

    folder = tmp_path_factory.mktemp("optimized-graphs")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
