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
    if not torch_sqrt_reproduced():  # an ulp of torch's MKL sqrt in each coefficient (see torch_sqrt_reproduced)
        rel = max(rel, NOT_REPRODUCED_REL)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(ours), finite, err_msg=f"{what}: non-finite pattern differs")
    np.testing.assert_array_equal(ours[~finite], ref[~finite], err_msg=f"{what}: non-finite values differ")
    if finite.any():
        scale = max(1.0, float(np.abs(ref[finite]).max()), magnitude)
        err = float(np.abs(ours[finite] - ref[finite]).max())
        assert err <= rel * scale, f"{what}: max abs error {err:.3g} > {rel:g} x {scale:.3g}"


# Where torch's sqrt is not reproduced, each float32 coefficient of a step can be an ulp off torch's; through a
# step's cancellations that reaches about 1e-5 of its terms with MKL's SSE kernel (MKL_CBWR=COMPATIBLE, an ulp
# off IEEE on 17% of inputs), 1e-6 with its AVX2 kernel.
NOT_REPRODUCED_REL = 3e-5


def torch_sqrt_reproduced() -> bool:
    """True where ortdiffusion reproduces torch's float32 sqrt bit for bit (MKL's AVX-512 kernel on Intel).
    Elsewhere (AVX2 or AMD CPUs, MKL overrides) torch's MKL kernel and ortdiffusion's IEEE sqrt differ by an
    ulp now and then, and the parity tests hold what those ulps become (module docstrings say how much)."""
    from ortdiffusion import _native

    return bool(_native.torch_sqrt_is_mkl_avx512())


# Zero-terminal-SNR rescaling takes torch's sqrt of all 1000 alphas_cumprod and squares them back; where
# torch's sqrt is not reproduced the rescaled schedule is several ulps off and the noise-prediction steps
# (epsilon divided by a sigma_t near 0, a first sigma of 4096) amplify that past any tolerance that still
# tells a wrong formula apart. The sigma-scheduler grids check zero-SNR configs where sqrt is reproduced
# (exactly or to 1e-5) and skip them elsewhere; DDIM's own zero-SNR tests run everywhere.


def ulps_apart(a: np.ndarray, b: np.ndarray) -> int:
    """The largest distance between two float32 arrays in units in the last place (equal shapes)."""
    a32 = np.ascontiguousarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    b32 = np.ascontiguousarray(b, dtype=np.float32).view(np.int32).astype(np.int64)
    return int(np.abs(a32 - b32).max(initial=0))


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
