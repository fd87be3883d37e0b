"""ortdiffusion.UniPCMultistepScheduler against diffusers' (the oracle): predictor-corrector loops over orders
1-3, bh1/bh2, data and noise prediction, every sigma schedule, spacing, final sigma and corrector option;
timesteps and sigmas equal, each step within 1e-6 of its terms (the epsilon a noise-predicting UniPC works
with is the model output divided by sigma_t, so the terms grow as 1 / min(alpha_t, sigma_t))."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle, torch_sqrt_reproduced, ulps_apart
from diffusers import UniPCMultistepScheduler as DiffusersUniPC

from ortdiffusion import ConfigError, UniPCMultistepScheduler

SD15 = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
VARIANTS = {
    "plain": {},
    "karras": {"use_karras_sigmas": True},
    "karras-range": {"use_karras_sigmas": True, "sigma_min": 0.05, "sigma_max": 8.0},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "sigma_min-final": {"final_sigmas_type": "sigma_min"},
    "leading": {"timestep_spacing": "leading", "steps_offset": 1},
    "trailing": {"timestep_spacing": "trailing"},
    "no-lower-order-final": {"lower_order_final": False, "final_sigmas_type": "sigma_min"},
    "disable-corrector": {"disable_corrector": [0, 2]},
    "zero-snr": {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
    "thresholding": {"thresholding": True, "sample_max_value": 1.5},
}
SHAPE = (2, 4, 6, 5)
# From the second order on, UniPC's coefficients come from the h phi_k(h) recursion (h phi_k / h - 1/k!,
# cancelling as h shrinks) and a small float32 linear solve (torch.linalg.solve: LAPACK), with expm1 and log
# from MKL in diffusers and from glibc here: their last-bit differences are amplified on small steps. Measured
# over this grid: up to 7.1e-6 of the step's terms (order 3, bh1, 25 steps; bh2, the default, stays near 1e-6); held
# to 1e-5.
HIGHER_ORDER_REL = 1e-5
# Where torch's float32 sqrt is not reproduced (AVX2 or AMD CPUs), an ulp of a sigma is amplified as for
# DPM-Solver (test_dpmsolver_parity): measured with MKL's AVX2 kernel up to 4.7e-5 of a step's terms, 1.1e-3
# with zero-SNR and noise prediction (first sigma 4096); held to 1e-3 there (zero-SNR 1e-2), and sigmas to 2 ulps.
EXACT = torch_sqrt_reproduced()


def _loop(torch, config, n, seed=0):
    if config.get("rescale_betas_zero_snr") and not torch_sqrt_reproduced():
        return  # zero-SNR parity needs torch's sqrt reproduced (conftest.py, before ulps_apart)
    ref, ours = DiffusersUniPC(**config), UniPCMultistepScheduler(**config)
    ref.set_timesteps(n)
    ours.set_timesteps(n)
    what = f"{config} n={n}"
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy(), err_msg=what)
    if EXACT:
        np.testing.assert_array_equal(np.asarray(ours.sigmas), ref.sigmas.numpy(), err_msg=what)
    else:
        assert ulps_apart(np.asarray(ours.sigmas), ref.sigmas.numpy()) <= 2, what
    sigmas = np.asarray(ours.sigmas, dtype=np.float64)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g)
    for i, t in enumerate(ref.timesteps):
        model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
        got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy()).prev_sample
        alpha = 1 / np.sqrt(sigmas[i] ** 2 + 1)
        # the terms: x and the converted output (epsilon = output / sigma_t for noise prediction), scaled by
        # the step's coefficients alpha_t / alpha_s0 and e^|h| - 1 (large where the final sigma is small)
        alpha_next = 1 / np.sqrt(sigmas[i + 1] ** 2 + 1)
        with np.errstate(divide="ignore"):
            h = abs(np.log(alpha_next / max(sigmas[i + 1] * alpha_next, 1e-30)) - np.log(alpha / (sigmas[i] * alpha)))
        growth = max(1.0, alpha_next / alpha, float(np.expm1(min(h, 30.0))))
        magnitude = (float(x.abs().max()) + float(model_output.abs().max()) / min(alpha, sigmas[i] * alpha)) * growth
        x = ref.step(model_output, t, x).prev_sample
        # zero-SNR rescaling starts at sigma 4096 (alpha 1/4096): the noise-prediction conversions of earlier
        # steps, which the corrector reuses, carry errors of that size; held to 1e-5 as README holds DDIM's
        rel = 1e-5 if config.get("rescale_betas_zero_snr") else HIGHER_ORDER_REL if ours.this_order > 1 else 1e-6
        rel = rel if EXACT else 1e-2 if config.get("rescale_betas_zero_snr") else 1e-3
        assert_matches_oracle(got, x.numpy(), rel, f"{what} step {i}", magnitude)
    assert ours.lower_order_nums == ref.lower_order_nums and ours.this_order == ref.this_order


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("order", [1, 2, 3])
def test_loops_match_diffusers_over_grid(torch, order, variant):
    for solver_type, predict_x0, prediction_type in itertools.product(
        ["bh1", "bh2"], [True, False], ["epsilon", "v_prediction", "sample"]
    ):
        config = {**SD15, **VARIANTS[variant], "solver_order": order, "solver_type": solver_type,
                  "predict_x0": predict_x0, "prediction_type": prediction_type}
        for n in (1, 2, 3, 7, 10, 20, 25):
            _loop(torch, config, n)


def test_other_beta_schedules_999_steps_and_float64(torch):
    for schedule in ({}, {"beta_schedule": "squaredcos_cap_v2"}, {"trained_betas": np.linspace(1e-4, 2e-2, 1000).tolist()}):
        _loop(torch, {**schedule, "solver_order": 3}, 10)
    _loop(torch, {**SD15, "use_karras_sigmas": True}, 999)
    ref, ours = DiffusersUniPC(**SD15), UniPCMultistepScheduler(**SD15)
    ref.set_timesteps(8)
    ours.set_timesteps(8)
    x = torch.randn(SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for i, t in enumerate(ref.timesteps):
        got = ours.step(x.numpy() * 0.3, ours.timesteps[i], x.numpy()).prev_sample
        x = ref.step(x * 0.3, t, x).prev_sample
        assert got.dtype == np.float64
        assert_matches_oracle(got, x.numpy(), 1e-6, f"float64 step {i}")


def test_step_into_and_a_singular_system_fail_as_diffusers_does(torch):
    a, b = UniPCMultistepScheduler(**SD15), UniPCMultistepScheduler(**SD15)
    a.set_timesteps(6)
    b.set_timesteps(6)
    y = np.ones(SHAPE, np.float32)
    target = np.empty_like(y)
    for t in a.timesteps:
        expected = a.step(y * np.float32(0.2), t, y).prev_sample
        b.step_into(y * np.float32(0.2), t, y, target)
        np.testing.assert_array_equal(target, expected)
        y = expected.copy()
    config = {**SD15, "solver_order": 3, "lower_order_final": False}  # the final zero sigma: an infinite step
    ref, ours = DiffusersUniPC(**config), UniPCMultistepScheduler(**config)
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    x = torch.ones(SHAPE)
    with pytest.raises(RuntimeError, match="singular"):  # torch's LinAlgError
        for t in ref.timesteps:
            x = ref.step(x * 0.1, t, x).prev_sample
    y = np.ones(SHAPE, np.float32)
    with pytest.raises(ValueError, match="singular .* keep lower_order_final=True"):
        for t in ours.timesteps:
            y = ours.step(y * np.float32(0.1), t, y).prev_sample


def test_bad_input_raises_clear_errors():
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="set_timesteps"):
        UniPCMultistepScheduler().step(x, 999, x)
    with pytest.raises(ConfigError, match="'solver_p' .* is not supported"):
        UniPCMultistepScheduler.from_config({"solver_p": {"_class_name": "DDIMScheduler"}})
    with pytest.raises(ConfigError, match="solver_type 'bh3' is not supported"):
        UniPCMultistepScheduler(solver_type="bh3")
    with pytest.raises(ConfigError, match="'disable_corrector' must be a list of step indices"):
        UniPCMultistepScheduler(disable_corrector=["first"])
    with pytest.raises(ConfigError, match="'use_flow_sigmas' .* not implemented"):
        UniPCMultistepScheduler(use_flow_sigmas=True)
    assert UniPCMultistepScheduler(solver_type="midpoint").config["solver_type"] == "bh2"  # as diffusers maps it
