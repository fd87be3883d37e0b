"""ortdiffusion.TCDScheduler against diffusers' (the oracle): its timesteps (the distillation schedule, or every
training timestep when original_inference_steps is given), whole loops over gamma (eta), prediction types,
beta schedules, strength and custom timesteps with the noise drawn from the same seed, and the generator left
where diffusers leaves it (no draw at the last step or with eta 0)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle
from diffusers import TCDScheduler as DiffusersTCD

from ortdiffusion import Generator, TCDScheduler

SHAPE = (2, 4, 6, 5)
# trained betas (a list of num_train_timesteps values, as a config file holds them)
TRAINED = {"trained_betas": [0.0001 + 0.0199 * (i / 999) ** 1.5 for i in range(1000)]}

VARIANTS = {
    "plain": {},
    "v": {"prediction_type": "v_prediction"},
    "sample": {"prediction_type": "sample"},
    "original-100": {"original_inference_steps": 100, "set_alpha_to_one": False},
    "linear": {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02},
    "trained": TRAINED,
    "cosine-zero-snr": {"beta_schedule": "squaredcos_cap_v2", "rescale_betas_zero_snr": True},
}


def _loop(torch, config, n, eta, strength=1.0, timesteps=None, original=None):
    ref, ours = DiffusersTCD(**config), TCDScheduler(**config)
    if timesteps is None:
        ref.set_timesteps(n, strength=strength, original_inference_steps=original)
        ours.set_timesteps(n, strength=strength, original_inference_steps=original)
    else:
        ref.set_timesteps(timesteps=timesteps, strength=strength)
        ours.set_timesteps(timesteps=timesteps, strength=strength)
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy())
    g = torch.Generator().manual_seed(n)
    x = torch.randn(SHAPE, generator=g)
    for t in ref.timesteps:
        model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
        ours_g = torch.Generator().set_state(g.get_state())
        got = ours.step(model_output.numpy(), t, x.numpy(), eta=eta, generator=ours_g)
        out = ref.step(model_output, t, x, eta=eta, generator=g)
        what = f"{config} n={n} eta={eta} t={int(t)}"
        rel = 1e-5 if config.get("rescale_betas_zero_snr") else 1e-6
        assert_matches_oracle(got.pred_noised_sample, out.pred_noised_sample.numpy(), rel, what + " x_s", 10.0)
        assert_matches_oracle(got.prev_sample, out.prev_sample.numpy(), rel, what + " prev_sample", 10.0)
        assert torch.equal(ours_g.get_state(), g.get_state()), what + ": the generator drew differently"
        x = out.prev_sample


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loops_match_diffusers(torch, variant):
    for n, eta in itertools.product((1, 2, 4, 8, 25, 50), (0.0, 0.3, 1.0)):
        _loop(torch, VARIANTS[variant], n, eta)


def test_strength_custom_timesteps_and_explicit_original_steps(torch):
    for n, strength in itertools.product((2, 4, 8), (0.5, 0.8)):
        _loop(torch, {}, n, 0.3, strength)
    for n, original in itertools.product((2, 4, 7), (50, 20)):
        _loop(torch, {}, n, 0.3, original=original)
    _loop(torch, {}, 0, 0.5, timesteps=[999, 759, 499, 259])
    _loop(torch, {}, 0, 0.5, strength=0.5, timesteps=[999, 759, 499, 259])


def test_same_seed_same_picture_and_errors():
    runs = []
    for seed in (1, 1, 2):
        s = TCDScheduler()
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
        TCDScheduler().step(x, 999, x)
    with pytest.raises(ValueError, match="cannot be larger than `original_inference_steps`: 50"):
        TCDScheduler().set_timesteps(60, original_inference_steps=50)
    s = TCDScheduler()
    s.set_timesteps(4)
    with pytest.raises(ValueError, match="eta \\(gamma\\) must be between 0 and 1, got 1.5"):
        s.step(x, s.timesteps[0], x, eta=1.5, generator=Generator(0))
    with pytest.raises(ValueError, match="timestep 500 is not one of this schedule's 4 timesteps"):
        s.step(x, 500, x, generator=Generator(0))
