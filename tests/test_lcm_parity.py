"""ortdiffusion.LCMScheduler against diffusers' (the oracle): the distillation-schedule timesteps, whole loops
with the consistency noise drawn from the same seed, every prediction type, clipping and thresholding,
strength and custom timesteps; bit-identical where torch's sqrt is reproduced, within 1e-6 elsewhere."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle
from diffusers import LCMScheduler as DiffusersLCM

from ortdiffusion import ConfigError, Generator, LCMScheduler

SHAPE = (2, 4, 6, 5)
VARIANTS = {
    "plain": {},
    "v": {"prediction_type": "v_prediction"},
    "sample": {"prediction_type": "sample"},
    "clip": {"clip_sample": True, "clip_sample_range": 0.8},
    "threshold": {"thresholding": True, "sample_max_value": 1.5, "timestep_scaling": 1.0},
    "original-100": {"original_inference_steps": 100, "set_alpha_to_one": False},
    "linear": {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02},
    "cosine-zero-snr": {"beta_schedule": "squaredcos_cap_v2", "rescale_betas_zero_snr": True},
}


def _loop(torch, config, n, strength=1.0, timesteps=None):
    ref, ours = DiffusersLCM(**config), LCMScheduler(**config)
    if timesteps is None:
        ref.set_timesteps(n, strength=strength)
        ours.set_timesteps(n, strength=strength)
    else:
        ref.set_timesteps(timesteps=timesteps, strength=strength)
        ours.set_timesteps(timesteps=timesteps, strength=strength)
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy())
    g = torch.Generator().manual_seed(n)
    x = torch.randn(SHAPE, generator=g)
    for t in ref.timesteps:
        model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
        state = g.get_state()
        got = ours.step(model_output.numpy(), t, x.numpy(), generator=torch.Generator().set_state(state))
        out = ref.step(model_output, t, x, generator=g)
        what = f"{config} n={n} t={int(t)}"
        rel = 1e-5 if config.get("rescale_betas_zero_snr") else 1e-6
        assert_matches_oracle(got.denoised, out.denoised.numpy(), rel, what + " denoised", 10.0)
        assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), rel, what + " prev_sample", 10.0)
        x = out.prev_sample


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loops_match_diffusers(torch, variant):
    for n in (1, 2, 3, 4, 8, 25, 50):
        _loop(torch, VARIANTS[variant], n)


def test_strength_and_custom_timesteps(torch):
    for n, strength in itertools.product((2, 4, 8), (0.5, 0.8)):
        _loop(torch, {}, n, strength)
    _loop(torch, {}, 0, timesteps=[999, 759, 499, 259])
    _loop(torch, {}, 0, strength=0.5, timesteps=[999, 759, 499, 259])


def test_same_seed_same_picture_and_errors():
    runs = []
    for seed in (1, 1, 2):
        s = LCMScheduler()
        s.set_timesteps(4)
        x = np.ones(SHAPE, np.float32)
        g = Generator(seed)
        for t in s.timesteps:
            x = s.step(x * np.float32(0.1), t, x, generator=g).prev_sample
        runs.append(x)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert np.abs(runs[0] - runs[2]).max() > 1e-3
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="set_timesteps"):
        LCMScheduler().step(x, 999, x)
    with pytest.raises(ValueError, match="\\(50 x 1.000000\\) is smaller than num_inference_steps \\(60\\)"):
        LCMScheduler().set_timesteps(60)
    with pytest.raises(ValueError, match="smaller than num_inference_steps"):
        LCMScheduler().set_timesteps(8, strength=0.1)
    with pytest.raises(ValueError, match="must be in descending order"):
        LCMScheduler().set_timesteps(timesteps=[259, 499])
    with pytest.raises(ConfigError, match="'original_inference_steps' must be at least 1"):
        LCMScheduler(original_inference_steps=0)
    s = LCMScheduler()
    s.set_timesteps(4)
    with pytest.raises(ValueError, match="timestep 500 is not one of this schedule's 4 timesteps"):
        s.step(x, 500, x, generator=Generator(0))
