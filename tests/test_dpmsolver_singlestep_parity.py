"""ortdiffusion.DPMSolverSinglestepScheduler against diffusers' (the oracle): dpmsolver++, dpmsolver and
sde-dpmsolver++ (noise from the same seed), orders 1-3 with diffusers' order lists, midpoint and Heun terms,
every sigma schedule, final sigma type and prediction type, lambda clipping, thresholding, custom timesteps and
a mid-schedule start; timesteps, sigmas and order lists equal, each step within 1e-6 of its magnitude."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from conftest import assert_matches_oracle, torch_sqrt_reproduced, ulps_apart
from diffusers import DPMSolverSinglestepScheduler as DiffusersSinglestep

from ortdiffusion import ConfigError, DPMSolverSinglestepScheduler

SD15 = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
# trained betas (a list of num_train_timesteps values, as a config file holds them)
TRAINED = {"trained_betas": [0.0001 + 0.0199 * (i / 999) ** 1.5 for i in range(1000)]}

VARIANTS = {
    "plain": {},
    "sd15": SD15,
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},
    "karras": {**SD15, "use_karras_sigmas": True},
    "exponential": {**SD15, "use_exponential_sigmas": True},
    "beta": {**SD15, "use_beta_sigmas": True},
    "trained": TRAINED,
    "sigma_min-final": {"final_sigmas_type": "sigma_min"},
    "lower-order-final": {"lower_order_final": True, "final_sigmas_type": "sigma_min"},
    "lambda-clipped": {"lambda_min_clipped": -5.1},
    "thresholding": {"thresholding": True, "sample_max_value": 1.5},
}
SHAPE = (2, 4, 6, 5)
# as DPMSolverMultistepScheduler's parity test: torch's MKL exp/sqrt against ours off the exact CPUs
REL = 1e-6 if torch_sqrt_reproduced() else 1e-3


def _loop(torch, config, n, timesteps=None, begin=None, dtype=None):
    ref, ours = DiffusersSinglestep(**config), DPMSolverSinglestepScheduler(**config)
    if timesteps is None:
        ref.set_timesteps(n)
        ours.set_timesteps(n)
    else:
        ref.set_timesteps(timesteps=timesteps)
        ours.set_timesteps(timesteps=timesteps)
    what = f"{config} n={n}"
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy(), err_msg=what)
    assert ulps_apart(np.asarray(ours.sigmas), ref.sigmas.numpy()) <= (0 if torch_sqrt_reproduced() else 2), what
    assert ours.order_list == ref.order_list, what
    assert ours.config.lower_order_final == ref.config.lower_order_final, what
    g = torch.Generator().manual_seed(n)
    x = torch.randn(SHAPE, generator=g, dtype=dtype or torch.float32)
    start = 0
    if begin is not None:
        ref.set_begin_index(begin)
        ours.set_begin_index(begin)
        start = begin
    for i in range(start, len(ref.timesteps)):
        t = ref.timesteps[i]
        model_output = torch.randn(SHAPE, generator=g, dtype=x.dtype) * 0.5 + 0.1 * x
        state = g.get_state()
        got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy(),
                        generator=torch.Generator().set_state(state)).prev_sample
        x = ref.step(model_output, t, x, generator=g).prev_sample
        assert got.dtype == x.numpy().dtype
        magnitude = float(x.abs().max()) + float(model_output.abs().max()) * 10
        assert_matches_oracle(got, x.numpy(), REL, f"{what} step {i}", magnitude)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("algorithm", ["dpmsolver++", "dpmsolver", "sde-dpmsolver++"])
def test_loops_match_diffusers_over_grid(torch, caplog, algorithm, variant):
    caplog.set_level(logging.ERROR)  # diffusers' (and our) lower_order_final warnings
    for order, solver_type, prediction_type in itertools.product(
        [1, 2, 3], ["midpoint", "heun"], ["epsilon", "v_prediction", "sample"]
    ):
        config = {**VARIANTS[variant], "algorithm_type": algorithm, "solver_order": order,
                  "solver_type": solver_type, "prediction_type": prediction_type}
        if algorithm == "dpmsolver":
            config["final_sigmas_type"] = "sigma_min"  # "zero" is refused for it, as in diffusers
            if config.get("thresholding"):
                continue  # refused (diffusers' code path fails): test_bad_input
        for n in [1, 2, 3, 7, 10, 20, 25] if variant == "sd15" else [3, 10]:
            _loop(torch, config, n)


def test_custom_timesteps_img2img_start_and_float64(torch, caplog):
    caplog.set_level(logging.ERROR)
    _loop(torch, {**SD15, "solver_order": 3}, 0, timesteps=[999, 800, 600, 400, 200, 0])
    for begin in (1, 2, 3):
        _loop(torch, {**SD15, "solver_order": 3}, 9, begin=begin)
    _loop(torch, {**SD15, "algorithm_type": "sde-dpmsolver++"}, 8, dtype=torch.float64)


def test_lower_order_final_is_switched_on_as_diffusers_does(caplog):
    s = DPMSolverSinglestepScheduler(solver_order=2, final_sigmas_type="sigma_min")
    assert s.config.lower_order_final is False
    with caplog.at_level(logging.WARNING):
        s.set_timesteps(7)
    assert s.config.lower_order_final is True and "uneven amount of inference steps" in caplog.text
    assert s.order_list == [1, 2, 1, 2, 1, 2, 1]


def test_bad_input():
    with pytest.raises(ConfigError, match="\"sde-dpmsolver\" is not available in DPMSolverSinglestepScheduler"):
        DPMSolverSinglestepScheduler(algorithm_type="sde-dpmsolver")
    with pytest.raises(ConfigError, match="'final_sigmas_type' \"zero\" is not supported for 'algorithm_type' \"dpmsolver\""):
        DPMSolverSinglestepScheduler(algorithm_type="dpmsolver")
    with pytest.raises(ConfigError, match="'thresholding' with 'algorithm_type' \"dpmsolver\" is not supported"):
        DPMSolverSinglestepScheduler(algorithm_type="dpmsolver", final_sigmas_type="sigma_min", thresholding=True)
    with pytest.raises(ConfigError, match="'solver_order' must be 1, 2 or 3, got 4"):
        DPMSolverSinglestepScheduler(solver_order=4)
    with pytest.raises(ConfigError, match="'use_flow_sigmas'"):
        DPMSolverSinglestepScheduler(use_flow_sigmas=True)
    with pytest.raises(ValueError, match="Cannot use `timesteps` with use_karras_sigmas"):
        DPMSolverSinglestepScheduler(use_karras_sigmas=True).set_timesteps(timesteps=[999, 500])
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="call set_timesteps\\(n\\) before step"):
        DPMSolverSinglestepScheduler().step(x, 999, x)
    s = DPMSolverSinglestepScheduler(algorithm_type="sde-dpmsolver++")
    s.set_timesteps(4)
    s.step(x, s.timesteps[0], x)  # no generator: fresh noise, as diffusers
    with pytest.raises(ValueError, match="the sample has 30 elements"):
        s.step(x[:1, :1], s.timesteps[1], x[:1, :1])
