"""Betas, alphas_cumprod and inference timesteps against diffusers.DDIMScheduler."""

import numpy as np
import pytest
from diffusers import DDIMScheduler as DiffusersDDIM

from ortdiffusion import DDIMScheduler

SCHEDULES = [
    {"beta_schedule": "linear"},
    {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
    {"beta_schedule": "squaredcos_cap_v2"},
    {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 37},
]


@pytest.mark.parametrize("config", SCHEDULES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_betas_and_alphas_cumprod_bit_exact(config):
    ref = DiffusersDDIM(**config)
    ours = DDIMScheduler(**config)
    np.testing.assert_array_equal(ours.betas, ref.betas.numpy())
    np.testing.assert_array_equal(ours.alphas_cumprod, ref.alphas_cumprod.numpy())
    assert ours.final_alpha_cumprod == float(ref.final_alpha_cumprod)


def test_rescale_zero_snr_schedule_close_and_terminal_zero(torch):
    # torch.sqrt goes through MKL VML (not correctly rounded), so this path agrees to an ulp or so.
    config = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "rescale_betas_zero_snr": True}
    ref = DiffusersDDIM(**config)
    ours = DDIMScheduler(**config)
    np.testing.assert_allclose(ours.alphas_cumprod[:-1], ref.alphas_cumprod.numpy()[:-1], rtol=1e-5, atol=0)
    assert ours.alphas_cumprod[-1] == 0.0 and ref.alphas_cumprod[-1].item() == 0.0


def test_trained_betas_are_used():
    betas = np.linspace(1e-4, 2e-2, 1000)
    ref = DiffusersDDIM(trained_betas=betas.tolist())
    ours = DDIMScheduler(trained_betas=betas)
    np.testing.assert_array_equal(ours.betas, ref.betas.numpy())
    np.testing.assert_array_equal(ours.alphas_cumprod, ref.alphas_cumprod.numpy())


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("num_train_timesteps", [1000, 37])
@pytest.mark.parametrize("steps_offset", [0, 1])
def test_timesteps_equal_for_every_step_count(spacing, num_train_timesteps, steps_offset):
    config = {"timestep_spacing": spacing, "num_train_timesteps": num_train_timesteps, "steps_offset": steps_offset}
    ref = DiffusersDDIM(**config)
    ours = DDIMScheduler(**config)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())  # before set_timesteps
    for n in range(1, num_train_timesteps + 1):
        ref.set_timesteps(n)
        ours.set_timesteps(n)
        assert np.asarray(ours.timesteps).dtype == np.int64
        np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy(), err_msg=f"n={n}")


def test_ddim_linspace_prev_timestep_uses_T_div_n():
    # The quirk diffusers keeps: step() goes back T // n even when the spacing is linspace/trailing.
    ours = DDIMScheduler(timestep_spacing="linspace")
    ours.set_timesteps(7)
    t = int(ours.timesteps[0])
    assert ours._native.step_coefficients(t)["prev_timestep"] == t - 1000 // 7
