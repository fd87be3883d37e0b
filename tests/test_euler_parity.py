"""ortdiffusion's EulerDiscreteScheduler and EulerAncestralDiscreteScheduler against diffusers' (the
oracle): schedules (timesteps, sigmas, init_noise_sigma) and whole loops over a grid of configs and step
counts, each step on the same inputs within 1e-6 of its magnitude, the ancestral noise drawn from the
same seed.

Timesteps and sigmas agree to the last float32 bit except where diffusers' own arithmetic is not IEEE:
torch's float32 sqrt of the training sigmas (MKL VML, an ulp off in a few of the 1000 values) and numpy's
float64 log/power (SVML on AVX-512) under Karras/exponential sigmas; both at most 2 ulps (measured:
docs/schedulers.md, "Same numbers")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle, torch_sqrt_reproduced
from diffusers import EulerAncestralDiscreteScheduler as DiffusersEulerA
from diffusers import EulerDiscreteScheduler as DiffusersEuler

from ortdiffusion import ConfigError, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, Generator

SCHEDULES = {
    "linear": {"beta_schedule": "linear"},
    "scaled_linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
    "squaredcos_cap_v2": {"beta_schedule": "squaredcos_cap_v2"},
    "trained_betas": {"trained_betas": np.linspace(1e-4, 2e-2, 1000).tolist()},
}
PREDICTIONS = ["epsilon", "v_prediction", "sample"]
SPACINGS = ["linspace", "leading", "trailing"]
VARIANTS = {
    "plain": {},
    "karras": {"use_karras_sigmas": True},
    "karras-range": {"use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "log_linear": {"interpolation_type": "log_linear"},
    "sigma_min-final": {"final_sigmas_type": "sigma_min"},
    "zero-snr": {"rescale_betas_zero_snr": True},
    "continuous": {"timestep_type": "continuous"},
    "offset": {"steps_offset": 1},
}
STEP_COUNTS = [1, 2, 3, 7, 10, 20, 25, 50]
SHAPE = (2, 4, 6, 5)
MAX_ULPS = 2
# rescale_betas_zero_snr takes torch's float32 sqrt of every alphas_cumprod and squares it back: the MKL
# ulps compound through the rescale (as for DDIM, where docs/schedulers.md gives 1e-5), up to 8 ulps in the sigmas.
RESCALE_ULPS, RESCALE_REL = 8, 1e-5
TIMESTEP_ATOL = 1e-4


def assert_schedule_matches(ours, ref, what, max_ulps=MAX_ULPS):
    """Same length; sigmas equal to within MAX_ULPS float32 ulps, timesteps within TIMESTEP_ATOL (a
    Karras timestep comes from interpolating log sigmas, where an ulp of float64 log moves a small
    timestep by a few float32 ulps; see the module docstring)."""
    for name in ("timesteps", "sigmas"):
        a = np.asarray(getattr(ours, name), dtype=np.float32)
        b = getattr(ref, name).numpy().astype(np.float32)
        assert a.shape == b.shape, f"{what}: {name} shape {a.shape} != {b.shape}"
        if name == "timesteps":
            err = float(np.abs(a.astype(np.float64) - b).max(initial=0))
            assert err <= TIMESTEP_ATOL, f"{what}: timesteps differ by {err:.3g}: {a} vs {b}"
            continue
        ulps = np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))
        assert ulps.max(initial=0) <= max_ulps, f"{what}: {name} differ by {ulps.max()} ulps: {a} vs {b}"
    assert ours.init_noise_sigma == pytest.approx(float(ref.init_noise_sigma), rel=3e-7), what


def _loop(torch, ours_cls, ref_cls, config, n, seed=0, dtype=None):
    dtype = dtype or torch.float32
    ref, ours = ref_cls.from_config(config), ours_cls.from_config(config)
    ref.set_timesteps(n)
    ours.set_timesteps(n)
    if config.get("rescale_betas_zero_snr") and not torch_sqrt_reproduced():
        return  # zero-SNR parity needs torch's sqrt reproduced (conftest.py, before ulps_apart)
    what = f"{ours_cls.__name__} {config} n={n}"
    rescaled = config.get("rescale_betas_zero_snr", False)
    assert_schedule_matches(ours, ref, what, RESCALE_ULPS if rescaled else MAX_ULPS)
    rel = RESCALE_REL if rescaled else 1e-6
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g, dtype=dtype) * float(ref.init_noise_sigma)
    ancestral = ours_cls is EulerAncestralDiscreteScheduler
    for i, t in enumerate(ref.timesteps):
        model_output = torch.randn(SHAPE, generator=g, dtype=dtype) * 0.5 + 0.1 * x
        t_ours = ours.timesteps[i]  # (its own value: Karras timesteps may differ from diffusers' in the last bits)
        scaled = ours.scale_model_input(x.numpy(), t_ours)
        assert_matches_oracle(scaled, ref.scale_model_input(x, t).numpy(), rel, f"{what} scale {i}")
        if ancestral:
            state = g.get_state()
            out_ours = ours.step(model_output.numpy(), t_ours, x.numpy(), generator=torch.Generator().set_state(state))
            out_ref = ref.step(model_output, t, x, generator=g)
        else:
            out_ours = ours.step(model_output.numpy(), t_ours, x.numpy())
            out_ref = ref.step(model_output, t, x)
        # the step's terms: x, sigma * model_output, and (x - x0) / sigma * dt, each up to about this size; an
        # ulp of a sigma (see the module docstring) moves the result by about an ulp of them
        sigma = float(ref.sigmas[i])
        magnitude = float(x.abs().max()) + sigma * float(model_output.abs().max())
        for field in ("prev_sample", "pred_original_sample"):
            assert_matches_oracle(getattr(out_ours, field), getattr(out_ref, field).numpy(), rel,
                                  f"{what} step {i} {field}", magnitude)
        x = out_ref.prev_sample
    assert ours.step_index == ref.step_index


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_euler_loops_match_diffusers_over_grid(torch, schedule, variant):
    for prediction_type, spacing in itertools.product(PREDICTIONS, SPACINGS):
        config = {**SCHEDULES[schedule], **VARIANTS[variant], "prediction_type": prediction_type,
                  "timestep_spacing": spacing}
        for n in STEP_COUNTS:
            _loop(torch, EulerDiscreteScheduler, DiffusersEuler, config, n)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_euler_ancestral_loops_match_diffusers_over_grid(torch, schedule):
    for prediction_type, spacing, offset, rescale in itertools.product(
        ["epsilon", "v_prediction"], SPACINGS, [0, 1], [False, True]
    ):
        config = {**SCHEDULES[schedule], "prediction_type": prediction_type, "timestep_spacing": spacing,
                  "steps_offset": offset, "rescale_betas_zero_snr": rescale}
        for n in STEP_COUNTS:
            _loop(torch, EulerAncestralDiscreteScheduler, DiffusersEulerA, config, n, seed=n)


@pytest.mark.parametrize(("ours_cls", "ref_cls"), [(EulerDiscreteScheduler, DiffusersEuler),
                                                   (EulerAncestralDiscreteScheduler, DiffusersEulerA)])
def test_999_steps_and_float64(torch, ours_cls, ref_cls):
    config = SCHEDULES["scaled_linear"]
    _loop(torch, ours_cls, ref_cls, config, 999)
    _loop(torch, ours_cls, ref_cls, config, 20, dtype=torch.float64)


def test_churn_draws_noise_like_diffusers(torch):
    config = {**SCHEDULES["scaled_linear"], "use_karras_sigmas": True}
    ref, ours = DiffusersEuler.from_config(config), EulerDiscreteScheduler.from_config(config)
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0)) * 10
    churn = {"s_churn": 0.5, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.003}
    for i, t in enumerate(ref.timesteps):
        model_output = x * 0.05
        expected = ref.step(model_output, t, x, generator=torch.Generator().manual_seed(i), **churn).prev_sample
        got = ours.step(model_output.numpy(), t.numpy(), x.numpy(), generator=Generator(i), **churn).prev_sample
        assert_matches_oracle(got, expected.numpy(), 1e-6, f"churn step {i}")
        x = expected


def test_custom_timesteps_match_diffusers():
    custom = [999.0, 850.5, 500.0, 250.25, 10.0]
    ref, ours = DiffusersEuler(**SCHEDULES["scaled_linear"]), EulerDiscreteScheduler(**SCHEDULES["scaled_linear"])
    ref.set_timesteps(timesteps=custom)
    ours.set_timesteps(timesteps=custom)
    assert_schedule_matches(ours, ref, "custom timesteps")
    with pytest.raises(ValueError, match="Must pass exactly one"):
        ours.set_timesteps(5, timesteps=custom)


def test_img2img_begin_index_and_add_noise_match_diffusers(torch):
    ref, ours = DiffusersEulerA(**SCHEDULES["scaled_linear"]), EulerAncestralDiscreteScheduler(**SCHEDULES["scaled_linear"])
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    g = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    t = ref.timesteps[3:4].repeat(2)
    assert_matches_oracle(ours.add_noise(x0.numpy(), noise.numpy(), t.numpy()), ref.add_noise(x0, noise, t).numpy())
    ref.set_begin_index(3)
    ours.set_begin_index(3)
    assert ours.begin_index == 3 and ours.step_index is None
    assert_matches_oracle(ours.add_noise(x0.numpy(), noise.numpy(), t.numpy()), ref.add_noise(x0, noise, t).numpy())
    out = ours.step(x0.numpy(), ours.timesteps[3], noise.numpy(), generator=Generator(0))
    assert ours.step_index == 4 and out.prev_sample.shape == SHAPE


def test_torch_in_torch_out(torch):
    ours = EulerDiscreteScheduler(**SCHEDULES["scaled_linear"])
    ours.set_timesteps(4, device="cpu")
    assert isinstance(ours.timesteps, torch.Tensor) and ours.timesteps.dtype == torch.float32
    x = torch.randn(SHAPE, dtype=torch.float64)
    out = ours.step(ours.scale_model_input(x, ours.timesteps[0]), ours.timesteps[0], x)
    assert isinstance(out.prev_sample, torch.Tensor) and out.prev_sample.dtype == torch.float64
    assert out["pred_original_sample"] is out.pred_original_sample and out[0] is out.prev_sample


def test_bad_input_raises_clear_errors():
    x = np.zeros(SHAPE, np.float32)
    ours = EulerDiscreteScheduler()
    ours.step(x, 999.0, x)  # before set_timesteps: every training timestep, as in diffusers
    ours.set_timesteps(5)
    with pytest.raises(ValueError, match="timestep 3 is not one of this schedule's 5 timesteps"):
        ours.step(x, 3, x)  # a loop index instead of a timestep
    ours.set_timesteps(5)
    with pytest.raises(ValueError, match="timestep 123.5 is not one of this schedule's 5 timesteps"):
        ours.step(x, 123.5, x)
    for t in ours.timesteps:
        ours.step(x, t, x)
    with pytest.raises(ValueError, match="has taken all 5 steps"):
        ours.step(x, ours.timesteps[-1], x)
    with pytest.raises(ConfigError, match="only one of 'use_karras_sigmas', 'use_exponential_sigmas'"):
        EulerDiscreteScheduler(use_karras_sigmas=True, use_exponential_sigmas=True)
    with pytest.raises(ConfigError, match="only one of 'use_karras_sigmas', 'use_exponential_sigmas' and 'use_beta_sigmas'"):
        EulerDiscreteScheduler(use_exponential_sigmas=True, use_beta_sigmas=True)
    with pytest.raises(ConfigError, match="interpolation_type 'cubic' is not supported"):
        EulerDiscreteScheduler(interpolation_type="cubic")
    with pytest.raises(ConfigError, match="'sigma_min' must be a number or null"):
        EulerDiscreteScheduler.from_config({"sigma_min": "small"})
    with pytest.raises(ConfigError, match="\"sample\" is not supported by EulerAncestralDiscreteScheduler"):
        EulerAncestralDiscreteScheduler(prediction_type="sample")
    with pytest.raises(TypeError, match="unexpected config keys \\['use_karras_sigmas'\\]"):
        EulerAncestralDiscreteScheduler(use_karras_sigmas=True)
    with pytest.raises(ValueError, match="Cannot set `timesteps` with use_karras_sigmas"):
        EulerDiscreteScheduler(use_karras_sigmas=True).set_timesteps(timesteps=[999.0, 500.0])
    ancestral = EulerAncestralDiscreteScheduler()
    ancestral.set_timesteps(3)
    fresh = [ancestral.step(x, ancestral.timesteps[0], x).prev_sample]  # no generator: fresh noise, as diffusers
    ancestral.set_timesteps(3)
    fresh.append(ancestral.step(x, ancestral.timesteps[0], x).prev_sample)
    assert np.abs(fresh[0] - fresh[1]).max() > 0
    with pytest.raises(TypeError, match="generator must be an ortdiffusion.Generator or a torch.Generator"):
        ancestral.step(x, ancestral.timesteps[1], x, generator=np.random.default_rng(0))


def test_custom_sigmas_match_diffusers(torch):
    """set_timesteps(sigmas=...): the given levels as they are, their timesteps from diffusers' _sigma_to_t on
    float32 values (at most an ulp apart: numpy's float32 log), then a whole loop."""
    for config in ({}, {"beta_schedule": "scaled_linear"}, {"timestep_type": "continuous", "prediction_type": "v_prediction"}):
        for sigmas in ([14.6, 8.0, 4.0, 1.0, 0.1, 0.0], [*np.linspace(10, 0.03, 30).tolist(), 0.0]):
            ref, ours = DiffusersEuler(**config), EulerDiscreteScheduler(**config)
            ref.set_timesteps(sigmas=sigmas)
            ours.set_timesteps(sigmas=sigmas)
            assert ours.num_inference_steps == ref.num_inference_steps == len(sigmas) - 1
            np.testing.assert_array_equal(np.asarray(ours.sigmas), ref.sigmas.numpy())
            assert np.abs(np.asarray(ours.timesteps, np.float64) - ref.timesteps.numpy()).max() <= 1e-4
            g = torch.Generator().manual_seed(0)
            x = torch.randn(SHAPE, generator=g) * float(ref.init_noise_sigma)
            for i, t in enumerate(ref.timesteps):
                model_output = torch.randn(SHAPE, generator=g)
                got = ours.step(model_output.numpy(), ours.timesteps[i], x.numpy()).prev_sample
                x = ref.step(model_output, t, x).prev_sample
                assert_matches_oracle(got, x.numpy(), 1e-6, f"{config} step {i}", float(x.abs().max()) * 20)
    with pytest.raises(ValueError, match="sigmas needs at least 2 values"):
        EulerDiscreteScheduler().set_timesteps(sigmas=[1.0])
