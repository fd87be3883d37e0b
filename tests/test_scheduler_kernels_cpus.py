"""The schedulers' element-wise kernels are built for AVX-512, AVX2 and SSE2 and picked at load time; their
divisions by a step's scalar run as double multiplications (cpp/src/invariant_divisor.hpp). The numbers must
not depend on which clone runs: an emulated Haswell (AVX2, no AVX-512) gives the same bits as this machine."""

from __future__ import annotations

import os

import numpy as np
import pytest


def test_an_avx2_cpu_steps_to_the_same_bits(tmp_path):
    from avx2_emulation import STEP_CLASSES, emulator, run_as_haswell, scheduler_step_samples

    if emulator() is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-user is missing on CI (.ci/run installs it)")
        pytest.skip("qemu-user is not installed")
    out = tmp_path / "steps.npz"
    run_as_haswell(["scheduler-steps", str(out)], timeout=600)
    here = scheduler_step_samples()
    with np.load(out) as emulated:
        assert sorted(emulated.files) == sorted(STEP_CLASSES)
        for name in STEP_CLASSES:
            assert np.isfinite(here[name]).all(), name
            np.testing.assert_array_equal(emulated[name].view(np.uint32), here[name].view(np.uint32), err_msg=name)
