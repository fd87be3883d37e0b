"""ortdiffusion.DDPMScheduler against diffusers' (the oracle): timesteps and whole ancestral loops (noise from
the same seed) over variance types, prediction types, spacings, clipping and thresholding, custom
timesteps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle
from diffusers import DDPMScheduler as DiffusersDDPM

from ortdiffusion import ConfigError, DDPMScheduler

SHAPE = (2, 4, 6, 5)


def _loop(torch, config, n=None, timesteps=None):
    ref, ours = DiffusersDDPM(**config), DDPMScheduler(**config)
    ref.set_timesteps(n, timesteps=timesteps)
    ours.set_timesteps(n, timesteps=timesteps)
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=g)
    for t in ref.timesteps:
        model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
        state = g.get_state()
        got = ours.step(model_output.numpy(), t, x.numpy(), generator=torch.Generator().set_state(state))
        out = ref.step(model_output, t, x, generator=g)
        what = f"{config} n={n} t={int(t)}"
        rel = 1e-5 if config.get("rescale_betas_zero_snr") else 1e-6
        assert_matches_oracle(got.pred_original_sample, out.pred_original_sample.numpy(), rel, what, 100.0)
        assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), rel, what, 10.0)
        x = out.prev_sample


@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_small_log", "fixed_large"])
def test_loops_match_diffusers(torch, variance_type):
    for prediction_type, spacing, extra in itertools.product(
        ["epsilon", "v_prediction", "sample"], ["leading", "linspace", "trailing"],
        [{}, {"clip_sample": False}, {"thresholding": True, "sample_max_value": 1.5},
         {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1},
         {"beta_schedule": "squaredcos_cap_v2", "rescale_betas_zero_snr": True}],
    ):
        config = {"variance_type": variance_type, "prediction_type": prediction_type, "timestep_spacing": spacing, **extra}
        for n in (1, 3, 10, 50):
            _loop(torch, config, n)


def test_custom_timesteps_previous_timestep_and_errors(torch):
    _loop(torch, {}, timesteps=[900, 600, 300, 100, 0])
    s = DDPMScheduler()
    s.set_timesteps(timesteps=[100, 87, 50, 1, 0])
    assert [int(s.previous_timestep(t)) for t in s.timesteps] == [87, 50, 1, 0, -1]
    with pytest.raises(ValueError, match="must be in descending order"):
        s.set_timesteps(timesteps=[100, 87, 88])
    with pytest.raises(ConfigError, match="variance_type 'learned' .* is not implemented"):
        DDPMScheduler(variance_type="learned")
    with pytest.raises(ConfigError, match="beta_schedule 'sigmoid' is not implemented"):
        DDPMScheduler(beta_schedule="sigmoid")
