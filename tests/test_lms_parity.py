"""ortdiffusion.LMSDiscreteScheduler against diffusers' (the oracle, which integrates its coefficients with
scipy.integrate.quad): the coefficients bit for bit, schedules, and whole loops over every spacing, prediction
type, beta schedule, sigma schedule and order."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from conftest import assert_matches_oracle, torch_sqrt_reproduced, ulps_apart
from diffusers import LMSDiscreteScheduler as DiffusersLMS

from ortdiffusion import ConfigError, LMSDiscreteScheduler

SHAPE = (2, 4, 6, 5)
SD15 = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
# trained betas (a list of num_train_timesteps values, as a config file holds them)
TRAINED = {"trained_betas": [0.0001 + 0.0199 * (i / 999) ** 1.5 for i in range(1000)]}

VARIANTS = {
    "plain": {},
    "sd15": SD15,
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},
    "karras": {**SD15, "use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "trained": TRAINED,
    "offset": {"timestep_spacing": "leading", "steps_offset": 1},
}


def test_coefficients_are_scipy_quad_bit_for_bit():
    for config, n in itertools.product([{}, SD15, {"use_karras_sigmas": True}], [2, 7, 25, 50]):
        ref, ours = DiffusersLMS(**config), LMSDiscreteScheduler(**config)
        ref.set_timesteps(n)
        ours.set_timesteps(n)
        for t in range(n):
            for order in range(1, min(t + 1, 4) + 1):
                for current in range(order):
                    assert ours.get_lms_coefficient(order, t, current) == ref.get_lms_coefficient(order, t, current), (
                        config, n, t, order, current)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loops_match_diffusers(torch, variant):
    for prediction_type, spacing in itertools.product(["epsilon", "v_prediction", "sample"], ["linspace", "leading", "trailing"]):
        config = {**VARIANTS[variant], "prediction_type": prediction_type, "timestep_spacing": spacing}
        for n, order in [(1, 4), (2, 4), (3, 2), (7, 3), (10, 4), (25, 4)]:
            ref, ours = DiffusersLMS(**config), LMSDiscreteScheduler(**config)
            ref.set_timesteps(n)
            ours.set_timesteps(n)
            what = f"{config} n={n} order={order}"
            assert np.abs(np.asarray(ours.timesteps, np.float64) - ref.timesteps.numpy()).max() <= 1e-4, what
            limit = 0 if torch_sqrt_reproduced() else 2
            assert ulps_apart(np.asarray(ours.sigmas), ref.sigmas.numpy()) <= limit, what
            g = torch.Generator().manual_seed(n)
            x = torch.randn(SHAPE, generator=g) * float(ref.init_noise_sigma)
            for i, t in enumerate(ref.timesteps):
                ref.scale_model_input(x, t)
                ours.scale_model_input(x.numpy(), ours.timesteps[i])
                model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
                got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy(), order=order)
                out = ref.step(model_output, t, x, order=order)
                magnitude = float(x.abs().max()) + float(ref.sigmas.max()) * float(model_output.abs().max())
                assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), 1e-6, f"{what} step {i}", magnitude)
                x = out.prev_sample


def test_img2img_from_a_begin_index(torch):
    ref, ours = DiffusersLMS(**SD15), LMSDiscreteScheduler(**SD15)
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    ref.set_begin_index(4)
    ours.set_begin_index(4)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(SHAPE, generator=g)
    for i, t in enumerate(ref.timesteps[4:], start=4):
        x_in = ref.scale_model_input(x, t)
        np.testing.assert_allclose(ours.scale_model_input(x.numpy(), ours.timesteps[i]), x_in.numpy(), rtol=1e-6)
        model_output = torch.randn(SHAPE, generator=g)
        got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy())
        out = ref.step(model_output, t, x)
        assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), 1e-6, f"step {i}", float(x.abs().max()) * 20)
        x = out.prev_sample


def test_bad_input_and_the_missing_scale_warning():
    with pytest.raises(ConfigError, match="only one of 'use_karras_sigmas'"):
        LMSDiscreteScheduler(use_karras_sigmas=True, use_exponential_sigmas=True)
    with pytest.raises(ConfigError, match="prediction_type 'noise' is not supported"):
        LMSDiscreteScheduler(prediction_type="noise")
    s = LMSDiscreteScheduler()
    s.set_timesteps(4)
    x = np.zeros(SHAPE, np.float32)
    with pytest.warns(UserWarning, match="`scale_model_input` function should be called before `step`"):
        s.step(x, s.timesteps[0], x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.scale_model_input(x, s.timesteps[1])
        with pytest.raises(ValueError, match="order must be at least 1, got 0"):
            s.step(x, s.timesteps[1], x, order=0)
    with pytest.raises(ValueError, match="do not fit this schedule"):
        s.get_lms_coefficient(4, 1, 0)
