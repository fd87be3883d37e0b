"""ortdiffusion.HeunDiscreteScheduler against diffusers' (the oracle): the interleaved timesteps and sigmas
and whole predictor-corrector loops over every spacing, prediction type and sigma schedule; sigmas and steps
as for Euler (module docstring of test_euler_parity)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle
from diffusers import HeunDiscreteScheduler as DiffusersHeun

from ortdiffusion import ConfigError, EulerDiscreteScheduler, HeunDiscreteScheduler

SHAPE = (2, 4, 6, 5)
# trained betas (a list of num_train_timesteps values, as a config file holds them)
TRAINED = {"trained_betas": [0.0001 + 0.0199 * (i / 999) ** 1.5 for i in range(1000)]}

VARIANTS = {
    "plain": {},
    "scaled_linear": {"beta_schedule": "scaled_linear"},
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},
    "exp": {"beta_schedule": "exp"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "trained": TRAINED,
    "clip": {"clip_sample": True, "clip_sample_range": 2.0},
    "offset": {"timestep_spacing": "leading", "steps_offset": 1},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loops_match_diffusers(torch, variant):
    for prediction_type, spacing in itertools.product(["epsilon", "v_prediction", "sample"], ["linspace", "leading", "trailing"]):
        config = {**VARIANTS[variant], "prediction_type": prediction_type, "timestep_spacing": spacing}
        for n in (1, 2, 3, 7, 10, 25):
            ref, ours = DiffusersHeun(**config), HeunDiscreteScheduler(**config)
            ref.set_timesteps(n)
            ours.set_timesteps(n)
            what = f"{config} n={n}"
            assert np.abs(np.asarray(ours.timesteps, dtype=np.float64) - ref.timesteps.numpy()).max() <= 1e-4, what
            np.testing.assert_allclose(np.asarray(ours.sigmas), ref.sigmas.numpy(), rtol=3e-7, err_msg=what)
            assert len(ours.timesteps) == 2 * n - 1 and ours.order == 2
            g = torch.Generator().manual_seed(n)
            x = torch.randn(SHAPE, generator=g) * float(ref.init_noise_sigma)
            for i, t in enumerate(ref.timesteps):
                model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
                assert ours.state_in_first_order == ref.state_in_first_order
                got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy())
                out = ref.step(model_output, t, x)
                magnitude = float(x.abs().max()) + float(ref.sigmas.max()) * float(model_output.abs().max())
                assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), 1e-6, f"{what} call {i}", magnitude)
                x = out.prev_sample


def test_bad_input():
    with pytest.raises(ConfigError, match="beta_schedule 'laplace' is not supported"):
        HeunDiscreteScheduler(beta_schedule="laplace")
    with pytest.raises(ConfigError, match="beta_schedule 'exp' is not supported"):
        EulerDiscreteScheduler(beta_schedule="exp")  # Heun's alone, as in diffusers
    with pytest.raises(ValueError, match="Cannot use `timesteps` with use_karras_sigmas"):
        HeunDiscreteScheduler(use_karras_sigmas=True).set_timesteps(timesteps=[999.0, 500.0])
    s = HeunDiscreteScheduler()
    s.set_timesteps(3)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="timestep 123.5 is not one of this schedule's 5 timesteps"):
        s.step(x, 123.5, x)
