"""DDIMScheduler.step at 1x4x64x64 float32 (SD 1.5 at 512x512): ortdiffusion vs diffusers (torch) vs a
plain numpy implementation, side by side in one run. Goal (issue 2): >= 20x faster than diffusers."""

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler as DiffusersDDIM

from ortdiffusion import DDIMScheduler, Generator

SD15 = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
        "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1}
SHAPE = (1, 4, 64, 64)


@pytest.fixture(scope="module")
def inputs():
    g = Generator(0)
    return g.randn(SHAPE), g.randn(SHAPE)


def numpy_ddim_step(alphas_cumprod, final_alpha_cumprod, num_train, n, model_output, t, sample):
    """Reference DDIM step (eta = 0, epsilon prediction) written with numpy, as a user would."""
    prev_t = t - num_train // n
    alpha_prod_t = alphas_cumprod[t]
    alpha_prod_t_prev = alphas_cumprod[prev_t] if prev_t >= 0 else final_alpha_cumprod
    beta_prod_t = 1 - alpha_prod_t
    pred_original_sample = (sample - np.sqrt(beta_prod_t) * model_output) / np.sqrt(alpha_prod_t)
    pred_sample_direction = np.sqrt(1 - alpha_prod_t_prev) * model_output
    return np.sqrt(alpha_prod_t_prev) * pred_original_sample + pred_sample_direction, pred_original_sample


@pytest.fixture(scope="module")
def ours():
    """Our scheduler at 50 steps and the timestep every benchmark steps from."""
    scheduler = DDIMScheduler(**SD15)
    scheduler.set_timesteps(50)
    return scheduler, scheduler.timesteps[10]  # np.int64, as a denoising loop passes it


@pytest.mark.benchmark(group="ddim-step-1x4x64x64")
def test_ortdiffusion_step(benchmark, inputs, ours):
    sample, model_output = inputs
    scheduler, t = ours
    out = benchmark(scheduler.step, model_output, t, sample)
    assert out.prev_sample.shape == SHAPE


@pytest.mark.benchmark(group="ddim-step-1x4x64x64")
def test_diffusers_step(benchmark, inputs):
    sample, model_output = (torch.from_numpy(a) for a in inputs)
    scheduler = DiffusersDDIM(**SD15)
    scheduler.set_timesteps(50)
    t = scheduler.timesteps[10]
    out = benchmark(scheduler.step, model_output, t, sample)
    assert out.prev_sample.shape == SHAPE


@pytest.mark.benchmark(group="ddim-step-1x4x64x64")
def test_numpy_step(benchmark, inputs, ours):
    sample, model_output = inputs
    scheduler, t = ours
    ac, final = scheduler.alphas_cumprod, np.float32(scheduler.final_alpha_cumprod)
    prev, _ = benchmark(numpy_ddim_step, ac, final, 1000, 50, model_output, int(t), sample)
    np.testing.assert_allclose(prev, scheduler.step(model_output, t, sample).prev_sample, rtol=1e-5, atol=1e-5)
