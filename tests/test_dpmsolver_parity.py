"""ortdiffusion.DPMSolverMultistepScheduler against diffusers' (the oracle): DPM-Solver and DPM-Solver++,
their SDE variants (noise from the same seed), orders 1-3, midpoint and Heun, every sigma schedule, final
sigma type, spacing and prediction type, over whole loops; timesteps and sigmas equal, each step within
1e-6 of its magnitude."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle, torch_sqrt_reproduced, ulps_apart
from diffusers import DPMSolverMultistepScheduler as DiffusersDPM

from ortdiffusion import ConfigError, DPMSolverMultistepScheduler, Generator

SD15 = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
SCHEDULES = {"scaled_linear": SD15, "linear": {}, "squaredcos_cap_v2": {"beta_schedule": "squaredcos_cap_v2"}}
VARIANTS = {
    "plain": {},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "lu-lambdas": {"use_lu_lambdas": True},
    "sigma_min-final": {"final_sigmas_type": "sigma_min"},
    "leading": {"timestep_spacing": "leading", "steps_offset": 1},
    "trailing": {"timestep_spacing": "trailing"},
    "euler_at_final": {"euler_at_final": True},
    "no-lower-order-final": {"lower_order_final": False},
    "zero-snr": {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
    "lambda-clipped": {"lambda_min_clipped": -5.1},
    "thresholding": {"thresholding": True, "sample_max_value": 1.5},
}
STEP_COUNTS = [1, 2, 3, 7, 10, 20, 25]
SHAPE = (2, 4, 6, 5)
# Where torch's float32 sqrt is not reproduced (AVX2 or AMD CPUs: MKL's other kernels), sigmas and the
# step's alpha_t = 1 / sqrt(sigma^2 + 1) can be an ulp apart, and the noise-prediction variants amplify it
# (epsilon = (x - alpha v) / sigma_t; zero-SNR's first sigma is 4096): measured with MKL's AVX2 kernel up to
# 1.3e-5 of a step's terms, with its SSE kernel (MKL_CBWR=COMPATIBLE) more; held to 1e-3 there (1e-2 under
# zero-SNR), and sigmas to 2 ulps. A wrong formula is off by far more.
EXACT = torch_sqrt_reproduced()
REL = 1e-6 if EXACT else 1e-3
# torch's float32 exp is MKL's vmsExp, which is not correctly rounded (it differs from glibc's expf on about
# 1% of inputs); ortdiffusion uses std::exp. Beta sigmas put the first steps close together (h about 0.012 at
# 20 steps), where the third-order divided differences (1 / r0, 1 / (r0 + r1)) amplify one ulp of exp(-h):
# measured 4.6e-6 of a step's terms (one step of 20, the others bit-exact). Held to 2e-5 there.
BETA_REL = 2e-5


def _loop(torch, config, n, seed=0):
    if config.get("rescale_betas_zero_snr") and not torch_sqrt_reproduced():
        return  # zero-SNR parity needs torch's sqrt reproduced (conftest.py, before ulps_apart)
    ref, ours = DiffusersDPM(**config), DPMSolverMultistepScheduler(**config)
    ref.set_timesteps(n)
    ours.set_timesteps(n)
    what = f"{config} n={n}"
    np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy(), err_msg=what)
    if EXACT:
        np.testing.assert_array_equal(np.asarray(ours.sigmas), ref.sigmas.numpy(), err_msg=what)
    else:
        assert ulps_apart(np.asarray(ours.sigmas), ref.sigmas.numpy()) <= 2, what
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g)
    for i, t in enumerate(ref.timesteps):
        model_output = torch.randn(SHAPE, generator=g) * 0.5 + 0.1 * x
        state = g.get_state()
        got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy(),
                        generator=torch.Generator().set_state(state)).prev_sample
        x = ref.step(model_output, t, x, generator=g).prev_sample
        magnitude = float(x.abs().max()) + float(model_output.abs().max()) * 10
        rel = REL if EXACT or not config.get("rescale_betas_zero_snr") else 1e-2
        if config.get("use_beta_sigmas"):
            rel = max(rel, BETA_REL)
        assert_matches_oracle(got, x.numpy(), rel, f"{what} step {i}", magnitude)
    assert ours.lower_order_nums == ref.lower_order_nums


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("algorithm", ["dpmsolver++", "sde-dpmsolver++", "dpmsolver", "sde-dpmsolver"])
def test_loops_match_diffusers_over_grid(torch, algorithm, variant):
    for schedule, order, solver_type, prediction_type in itertools.product(
        list(SCHEDULES), [1, 2, 3], ["midpoint", "heun"], ["epsilon", "v_prediction", "sample"]
    ):
        if algorithm == "sde-dpmsolver" and order == 3:
            continue  # diffusers has no third-order sde-dpmsolver update; refused below
        config = {**SCHEDULES[schedule], **VARIANTS[variant], "algorithm_type": algorithm, "solver_order": order,
                  "solver_type": solver_type, "prediction_type": prediction_type}
        if algorithm in ("dpmsolver", "sde-dpmsolver"):
            config.setdefault("final_sigmas_type", "sigma_min")  # "zero" is refused for them, as in diffusers
        if schedule == "squaredcos_cap_v2" and variant in ("karras", "exponential", "beta", "lu-lambdas"):
            continue  # repeated timesteps: diffusers fails with an IndexError (test_repeated_timesteps_...)
        for n in STEP_COUNTS if schedule == "scaled_linear" else [3, 10]:
            _loop(torch, config, n)


def test_repeated_timesteps_end_with_a_clear_error_where_diffusers_fails(torch):
    """Cosine betas with Karras sigmas give timesteps 998, 998, 998, ...: index_for_timestep starts the loop at
    the second one, so the last step runs past the schedule (diffusers: IndexError)."""
    config = {"beta_schedule": "squaredcos_cap_v2", "use_karras_sigmas": True}
    ref, ours = DiffusersDPM(**config), DPMSolverMultistepScheduler(**config)
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    x = torch.zeros(SHAPE)
    for i, t in enumerate(ref.timesteps[:-1]):
        x = ref.step(x, t, x).prev_sample
        ours.step(x.numpy(), ours.timesteps[i], x.numpy())
    with pytest.raises(IndexError):
        ref.step(x, ref.timesteps[-1], x)
    with pytest.raises(ValueError, match="the loop has taken all 10 steps of this schedule"):
        ours.step(x.numpy(), ours.timesteps[-1], x.numpy())


def test_999_steps_and_float64(torch):
    _loop(torch, {**SD15, "use_karras_sigmas": True}, 999)
    ref, ours = DiffusersDPM(**SD15), DPMSolverMultistepScheduler(**SD15)
    ref.set_timesteps(8)
    ours.set_timesteps(8)
    x = torch.randn(SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for i, t in enumerate(ref.timesteps):
        got = ours.step(x.numpy() * 0.3, ours.timesteps[i], x.numpy()).prev_sample
        x = ref.step(x * 0.3, t, x).prev_sample
        assert got.dtype == np.float64
        assert_matches_oracle(got, x.numpy(), 1e-6, f"float64 step {i}")


def test_add_noise_begin_index_and_step_into(torch):
    ref, ours = DiffusersDPM(**SD15, use_karras_sigmas=True), DPMSolverMultistepScheduler(**SD15, use_karras_sigmas=True)
    ref.set_timesteps(12)
    ours.set_timesteps(12)
    g = torch.Generator().manual_seed(5)
    x0, noise = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    t = ref.timesteps[4:5].repeat(2)
    assert_matches_oracle(ours.add_noise(x0.numpy(), noise.numpy(), t.numpy()), ref.add_noise(x0, noise, t).numpy())
    ref.set_begin_index(4)
    ours.set_begin_index(4)
    assert_matches_oracle(ours.add_noise(x0.numpy(), noise.numpy(), t.numpy()), ref.add_noise(x0, noise, t).numpy())
    a, b = DPMSolverMultistepScheduler(**SD15), DPMSolverMultistepScheduler(**SD15)
    a.set_timesteps(5)
    b.set_timesteps(5)
    y = x0.numpy()
    target = np.empty_like(y)
    for t in a.timesteps:
        expected = a.step(y * np.float32(0.2), t, y).prev_sample
        b.step_into(y * np.float32(0.2), t, y, target)
        np.testing.assert_array_equal(target, expected)
        y = expected


def test_sde_noise_follows_the_seed():
    config = {**SD15, "algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}
    runs = []
    for seed in (3, 3, 4):
        s = DPMSolverMultistepScheduler(**config)
        s.set_timesteps(4)
        x = np.ones(SHAPE, np.float32)
        g = Generator(seed)
        for t in s.timesteps:
            x = s.step(x * np.float32(0.1), t, x, generator=g).prev_sample
        runs.append(x)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert np.abs(runs[0] - runs[2]).max() > 1e-3
    with pytest.raises(ValueError, match="deterministic variants"):
        s.step_into(x, s.timesteps[0], x, np.empty_like(x))


def test_bad_input_raises_clear_errors():
    x = np.zeros(SHAPE, np.float32)
    s = DPMSolverMultistepScheduler()
    with pytest.raises(ValueError, match="set_timesteps"):
        s.step(x, 999, x)
    with pytest.raises(ConfigError, match="'solver_order' must be 1, 2 or 3, got 4"):
        DPMSolverMultistepScheduler(solver_order=4)
    with pytest.raises(ConfigError, match="'final_sigmas_type' \"zero\" is not supported for 'algorithm_type' \"dpmsolver\""):
        DPMSolverMultistepScheduler(algorithm_type="dpmsolver")
    with pytest.raises(ConfigError, match="algorithm_type 'dpm\\+\\+' is not supported"):
        DPMSolverMultistepScheduler(algorithm_type="dpm++")
    with pytest.raises(ConfigError, match="'use_flow_sigmas' \\(flow-matching models\\) is not implemented"):
        DPMSolverMultistepScheduler(use_flow_sigmas=True)
    with pytest.raises(ValueError, match="Cannot use `timesteps` with .*use_lu_lambdas"):
        DPMSolverMultistepScheduler(use_lu_lambdas=True).set_timesteps(timesteps=[999, 500, 1])
    with pytest.raises(ConfigError, match="no third-order update"):
        DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver", solver_order=3, final_sigmas_type="sigma_min")
    with pytest.raises(ValueError, match="Cannot use `timesteps` with use_karras_sigmas"):
        DPMSolverMultistepScheduler(use_karras_sigmas=True).set_timesteps(timesteps=[999, 500, 1])
    assert DPMSolverMultistepScheduler().config["lambda_min_clipped"] == float("-inf")
