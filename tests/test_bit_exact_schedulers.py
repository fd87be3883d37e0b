"""Where ortdiffusion reproduces torch's float32 sqrt (an Intel CPU with AVX-512, where torch takes it from
MKL's AVX-512 kernel), the native schedulers give diffusers' numbers bit for bit: whole loops on their own
trajectories, schedules included. On other CPUs these tests are skipped; the parity tests' tolerances
(1e-6 of each step's terms) hold everywhere."""

from __future__ import annotations

import numpy as np
import pytest

import ortdiffusion as od
from ortdiffusion import _native

pytestmark = pytest.mark.skipif(
    not _native.torch_sqrt_is_mkl_avx512(), reason="torch's float32 sqrt is replicated only where MKL runs its AVX-512 kernel"
)


def test_torch_sqrt_replica_is_exact_on_a_million_values(torch):
    if not torch.backends.mkl.is_available():
        pytest.skip("this torch has no MKL")
    g = torch.Generator().manual_seed(0)
    exponents = torch.randint(-126, 127, (1 << 20,), generator=g).float()
    x = (torch.rand(1 << 20, generator=g) + 1) * torch.pow(2.0, exponents)
    ours = _native.torch_sqrt(x.numpy())
    np.testing.assert_array_equal(ours.view(np.uint32), x.sqrt().numpy().view(np.uint32))
    assert (ours != np.sqrt(x.numpy())).sum() > 0  # and it is not IEEE sqrt


CASES = {
    # the configuration the scheduler issue measured 3.6e-5 apart with IEEE sqrt
    "ddim-zero-snr-v": (od.DDIMScheduler, "DDIMScheduler", {
        "rescale_betas_zero_snr": True, "prediction_type": "v_prediction", "timestep_spacing": "trailing",
        "beta_schedule": "squaredcos_cap_v2"}, 13),
    "plms-sd15": (od.PNDMScheduler, "PNDMScheduler", {
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "skip_prk_steps": True,
        "steps_offset": 1}, 25),
    "prk-v": (od.PNDMScheduler, "PNDMScheduler", {"prediction_type": "v_prediction"}, 10),
    "euler-zero-snr": (od.EulerDiscreteScheduler, "EulerDiscreteScheduler", {
        "beta_schedule": "scaled_linear", "rescale_betas_zero_snr": True, "prediction_type": "v_prediction"}, 20),
    "euler-a": (od.EulerAncestralDiscreteScheduler, "EulerAncestralDiscreteScheduler", {
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}, 30),
}


@pytest.mark.parametrize("case", list(CASES))
def test_whole_loops_are_bit_exact(torch, case):
    import diffusers

    ours_cls, ref_name, config, steps = CASES[case]
    ref, ours = getattr(diffusers, ref_name)(**config), ours_cls(**config)
    ref.set_timesteps(steps)
    ours.set_timesteps(steps)
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy())
    if hasattr(ref, "sigmas"):
        np.testing.assert_array_equal(ours.sigmas, ref.sigmas.numpy())
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 16, 16, generator=g) * float(ref.init_noise_sigma)
    y = x.numpy().copy()
    for t in ref.timesteps:
        model_output = torch.randn(2, 4, 16, 16, generator=g) * 0.3
        mine = ours.timesteps[list(ref.timesteps).index(t)] if hasattr(ref, "sigmas") else int(t)
        if hasattr(ref, "sigmas"):
            np.testing.assert_array_equal(ours.scale_model_input(y, mine), ref.scale_model_input(x, t).numpy())
        if "euler-a" in case:
            state = g.get_state()
            x = ref.step(model_output, t, x, generator=g).prev_sample
            y = ours.step(model_output.numpy(), mine, y, generator=torch.Generator().set_state(state)).prev_sample
        else:
            x = ref.step(model_output, t, x).prev_sample
            y = ours.step(model_output.numpy(), mine, y).prev_sample
        np.testing.assert_array_equal(y, x.numpy())
