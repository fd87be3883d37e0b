"""ortdiffusion.Generator against torch.randn on a CPU torch.Generator."""

import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ortdiffusion import Generator

SHAPES = [(1,), (3,), (15,), (16,), (17,), (31,), (33,), (2, 4, 8, 12), (1, 4, 64, 64), (2, 4, 96, 64)]


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 + 7, 2**63 + 11, -5])
def test_successive_randn_calls_equal_torch(torch, seed):
    g_ref = torch.Generator("cpu").manual_seed(seed)
    g = Generator(seed)
    for shape in SHAPES + SHAPES[::-1]:  # mixed order: exercises the cached second normal of small draws
        ref = torch.randn(shape, generator=g_ref).numpy()
        ours = g.randn(shape)
        assert ours.dtype == np.float32 and ours.shape == shape
        np.testing.assert_array_equal(ours, ref, err_msg=f"seed={seed} shape={shape}")


@pytest.mark.parametrize("seed", [0, 123])
def test_float64_randn_equals_torch(torch, seed):
    g_ref = torch.Generator().manual_seed(seed)
    g = Generator(seed)
    for shape in [(5,), (16,), (40,), (2, 3, 7)]:
        ref = torch.randn(shape, generator=g_ref, dtype=torch.float64).numpy()
        np.testing.assert_array_equal(g.randn(shape, dtype=np.float64), ref)


def test_seed_helpers_and_copy(torch):
    g = Generator(7)
    assert g.initial_seed() == 7
    assert Generator(-5).initial_seed() == torch.Generator().manual_seed(-5).initial_seed()
    assert Generator().initial_seed() == torch.Generator().initial_seed()
    g.randn(3)  # leaves a cached normal behind
    twin = copy.copy(g)
    np.testing.assert_array_equal(twin.randn(5), g.randn(5))
    assert g.manual_seed(7) is g
    np.testing.assert_array_equal(g.randn((2, 16)), Generator(7).randn((2, 16)))
    assert g.randn(0).shape == (0,)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="seed"):
        Generator(2**64)
    with pytest.raises(ValueError, match="negative"):
        Generator(0).randn((2, -1))
    with pytest.raises(TypeError, match="dtype"):
        Generator(0).randn(4, dtype=np.int32)
    with pytest.raises(TypeError, match="shape"):
        Generator(0).randn((2, "a"))


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_matches_torch_under_other_cpu_capabilities(capability):
    # torch picks its Box-Muller and linspace kernels by CPU capability; ATEN_CPU_CAPABILITY forces one
    # (for torch and for us alike), so both variants are checked on any machine that supports them.
    code = textwrap.dedent(
        """
        import numpy as np, torch
        from diffusers import DDIMScheduler as D
        import ortdiffusion as od
        g, G = torch.Generator().manual_seed(3), od.Generator(3)
        for shape in [(16,), (1, 4, 64, 64), (37,)]:
            np.testing.assert_array_equal(G.randn(shape), torch.randn(shape, generator=g).numpy())
        np.testing.assert_array_equal(od.DDIMScheduler().betas, D().betas.numpy())
        print("ok")
        """
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
    out = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_an_avx2_cpu_draws_the_same_numbers(tmp_path, torch):
    """torch's AVX2 and AVX-512 builds share one Box-Muller kernel, which Generator runs in AVX2 intrinsics:
    under an emulated Haswell (AVX2 + FMA, no AVX-512) the draws equal torch.randn's here."""
    from avx2_emulation import emulator, run_as_haswell

    if emulator() is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-user is missing on CI (.ci/run installs it)")
        pytest.skip("qemu-user is not installed")
    out = tmp_path / "draws.npy"
    run_as_haswell(["randn", "5", "20011", str(out)], timeout=600)
    expected = torch.randn(20011, generator=torch.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(np.load(out).view(np.uint32), expected.view(np.uint32))
