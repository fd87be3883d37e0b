"""ortdiffusion.KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler against diffusers' (the oracle):
the interleaved timesteps, sigmas and midpoints, and whole two-call loops (the ancestral one with noise from
the same torch seed) over every spacing, prediction type, beta schedule and sigma schedule."""

from __future__ import annotations

import itertools

import diffusers
import numpy as np
import pytest
from conftest import assert_matches_oracle, torch_sqrt_reproduced, ulps_apart

from ortdiffusion import ConfigError, KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler

SHAPE = (2, 4, 6, 5)
# trained betas (a list of num_train_timesteps values, as a config file holds them)
TRAINED = {"trained_betas": [0.0001 + 0.0199 * (i / 999) ** 1.5 for i in range(1000)]}

VARIANTS = {
    "plain": {},
    "scaled_linear": {"beta_schedule": "scaled_linear"},
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "trained": TRAINED,
    "offset": {"timestep_spacing": "leading", "steps_offset": 1},
}
CLASSES = {"KDPM2DiscreteScheduler": KDPM2DiscreteScheduler,
           "KDPM2AncestralDiscreteScheduler": KDPM2AncestralDiscreteScheduler}


def _same_schedule(ours, ref, what):
    # fractional timesteps: diffusers keeps them in float64 (Karras / exponential / beta) or computes the
    # midpoints' timesteps from float32 logs; ours are float32
    got, want = np.asarray(ours.timesteps, dtype=np.float64), ref.timesteps.numpy().astype(np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what} timesteps")
    assert np.abs(got - want)[~np.isnan(want)].max() <= 2e-4, what
    for name in ("sigmas", "sigmas_interpol", "sigmas_up", "sigmas_down"):
        if hasattr(ref, name):
            got, want = np.asarray(getattr(ours, name)), getattr(ref, name).numpy()
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what} {name}")
            # midpoints: exp(lerp(log a, log b)) with torch's MKL log/exp against libm's: an ulp or two
            limit = 0 if name == "sigmas" and torch_sqrt_reproduced() else 4
            assert ulps_apart(got[~np.isnan(got)], want[~np.isnan(want)]) <= limit, f"{what} {name}"


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loops_match_diffusers(torch, name, variant):
    for prediction_type, spacing in itertools.product(["epsilon", "v_prediction"], ["linspace", "leading", "trailing"]):
        config = {**VARIANTS[variant], "prediction_type": prediction_type, "timestep_spacing": spacing}
        for n in (1, 2, 3, 7, 10, 25) if variant in ("plain", "scaled_linear") else (1, 2, 3, 10):
            ref, ours = getattr(diffusers, name)(**config), CLASSES[name](**config)
            ref.set_timesteps(n)
            ours.set_timesteps(n)
            what = f"{name} {config} n={n}"
            _same_schedule(ours, ref, what)
            assert len(ours.timesteps) == 2 * n - 1 and ours.order == 2
            if ref.timesteps.isnan().any():
                # cosine betas, few ancestral steps: a midpoint's sigma_down underflows and its timestep is NaN
                # in diffusers too (matched above); no loop runs on such a schedule
                continue
            g = torch.Generator().manual_seed(n)
            x = torch.randn(SHAPE, generator=g) * float(ref.init_noise_sigma)
            for i, t in enumerate(ref.timesteps):
                model_input = ref.scale_model_input(x, t)
                np.testing.assert_allclose(ours.scale_model_input(x.numpy(), ours.timesteps[i]), model_input.numpy(),
                                           rtol=1e-6, atol=0, err_msg=f"{what} call {i} scale_model_input")
                model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
                assert ours.state_in_first_order == ref.state_in_first_order
                kwargs = {}
                if "Ancestral" in name:
                    kwargs = {"generator": torch.Generator().manual_seed(100 + i)}
                got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy(), **kwargs)
                if "Ancestral" in name:
                    kwargs = {"generator": torch.Generator().manual_seed(100 + i)}
                out = ref.step(model_output, t, x, **kwargs)
                magnitude = float(x.abs().max()) + float(ref.sigmas.max()) * float(model_output.abs().max())
                assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), 1e-6, f"{what} call {i}", magnitude)
                x = out.prev_sample


@pytest.mark.parametrize("name", list(CLASSES))
def test_img2img_begin_index_and_add_noise(torch, name):
    ref, ours = getattr(diffusers, name)(beta_schedule="scaled_linear"), CLASSES[name](beta_schedule="scaled_linear")
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    start = 6  # strength 0.7 of 10 steps, times the order: diffusers' timesteps[t_start * order:]
    ref.set_begin_index(start)
    ours.set_begin_index(start)
    g = torch.Generator().manual_seed(3)
    original, noise = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    t = ref.timesteps[start:start + 1].repeat(SHAPE[0])
    want = ref.add_noise(original, noise, t)
    got = ours.add_noise(original.numpy(), noise.numpy(), np.asarray(ours.timesteps)[start:start + 1].repeat(SHAPE[0]))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)


def test_bad_input():
    with pytest.raises(ConfigError, match="\"sample\" is not supported by KDPM2DiscreteScheduler"):
        KDPM2DiscreteScheduler(prediction_type="sample")
    with pytest.raises(ConfigError, match="\"sample\" is not supported by KDPM2AncestralDiscreteScheduler"):
        KDPM2AncestralDiscreteScheduler(prediction_type="sample")
    with pytest.raises(ConfigError, match="beta_schedule 'exp'"):
        KDPM2DiscreteScheduler(beta_schedule="exp")
    with pytest.raises(ConfigError, match="only one of 'use_karras_sigmas'"):
        KDPM2AncestralDiscreteScheduler(use_karras_sigmas=True, use_beta_sigmas=True)
    s = KDPM2DiscreteScheduler()
    s.set_timesteps(3)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="timestep 123.5 is not one of this schedule's 5 timesteps"):
        s.step(x, 123.5, x)
    s.step(x, s.timesteps[0], x)
    with pytest.raises(ValueError, match="the second half got 30 elements but the first had 240"):
        s.step(x[:1, :1], s.timesteps[1], x[:1, :1])
