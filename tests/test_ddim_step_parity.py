"""DDIMScheduler.step / add_noise / get_velocity against diffusers over the configuration grid."""

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle
from diffusers import DDIMScheduler as DiffusersDDIM

from ortdiffusion import DDIMScheduler, Generator

SCHEDULES = {
    "linear": {"beta_schedule": "linear"},
    "scaled_linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
    "squaredcos_cap_v2": {"beta_schedule": "squaredcos_cap_v2"},
    "trained_betas": {"trained_betas": np.linspace(1e-4, 2e-2, 1000).tolist()},
}
PREDICTIONS = ["epsilon", "sample", "v_prediction"]
SPACINGS = ["leading", "trailing", "linspace"]
STEP_COUNTS = [1, 7, 10, 20, 25, 30, 50, 999]
# x_0 post-processing: none, clipping (non-default range), dynamic thresholding (batch of 2)
X0_MODES = {
    "none": {"clip_sample": False, "thresholding": False},
    "clip": {"clip_sample": True, "clip_sample_range": 1.5},
    "threshold": {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 2.5},
}
SHAPE = (2, 4, 6, 5)


def _inputs(torch, seed):
    g = Generator(seed)
    sample = g.randn(SHAPE) * 1.7
    model_output = g.randn(SHAPE) * 1.3
    noise = g.randn(SHAPE)
    return sample, model_output, noise


# diffusers takes torch.sqrt of float32 tensors (alpha_prod_t ** 0.5 in step, and in
# rescale_zero_terminal_snr), which runs through MKL VML and is not correctly rounded: about 1 value in 5
# is an ulp off IEEE sqrt, which we use. An ulp in a coefficient is amplified by the step's own
# conditioning, so errors are measured against the size of the step's terms (see step_magnitude). Through
# the rescale it reaches ~4e-6 relative in the tail of alphas_cumprod, so those configs are held to 1e-5.
RESCALE_REL = 1e-5


def step_magnitude(alpha_prod_t, sample, model_output):
    """Size of the intermediate terms of a DDIM step: inputs divided by sqrt(alpha_t) or sqrt(1 - alpha_t)
    (x_0 = (x_t - sqrt(1-a) eps) / sqrt(a), eps = (x_t - sqrt(a) x_0) / sqrt(1-a))."""
    smallest = min(np.sqrt(alpha_prod_t), np.sqrt(1.0 - alpha_prod_t))
    inputs = float(np.abs(sample).max() + np.abs(model_output).max())
    return inputs / smallest if smallest > 0 else np.inf


def _check_steps(torch, config, n, seed=0):
    rel = RESCALE_REL if config.get("rescale_betas_zero_snr") else 1e-6
    ref = DiffusersDDIM(**config)
    ours = DDIMScheduler.from_config(config)
    ref.set_timesteps(n)
    ours.set_timesteps(n)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())
    sample, model_output, noise = _inputs(torch, seed)
    timesteps = ours.timesteps
    picks = sorted({0, len(timesteps) // 2, len(timesteps) - 1})
    for i in picks:
        t = int(timesteps[i])
        for eta in (0.0, 0.7):
            kwargs = {"eta": eta, "variance_noise": noise if eta > 0 else None}
            r = ref.step(torch.from_numpy(model_output), t, torch.from_numpy(sample), eta=eta,
                         variance_noise=torch.from_numpy(noise) if eta > 0 else None)
            o = ours.step(model_output, t, sample, **kwargs)
            what = f"{config} n={n} t={t} eta={eta}"
            magnitude = step_magnitude(float(ref.alphas_cumprod[t]), sample, model_output)
            assert_matches_oracle(o.prev_sample, r.prev_sample.numpy(), rel, what + " prev_sample", magnitude)
            assert_matches_oracle(o.pred_original_sample, r.pred_original_sample.numpy(), rel, what + " x0", magnitude)


@pytest.mark.parametrize("n", STEP_COUNTS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("prediction_type", PREDICTIONS)
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_step_matches_diffusers_over_grid(torch, schedule, prediction_type, spacing, n):
    for steps_offset, set_alpha_to_one, mode, rescale in itertools.product(
        [0, 1], [True, False], list(X0_MODES), [False, True]
    ):
        config = {
            **SCHEDULES[schedule],
            "prediction_type": prediction_type,
            "timestep_spacing": spacing,
            "steps_offset": steps_offset,
            "set_alpha_to_one": set_alpha_to_one,
            "rescale_betas_zero_snr": rescale,
            **X0_MODES[mode],
        }
        _check_steps(torch, config, n)


@pytest.mark.parametrize("prediction_type", PREDICTIONS)
@pytest.mark.parametrize("mode", ["clip", "threshold"])
def test_use_clipped_model_output_matches(torch, prediction_type, mode):
    config = {"prediction_type": prediction_type, **X0_MODES[mode]}
    ref = DiffusersDDIM(**config)
    ours = DDIMScheduler(**config)
    ref.set_timesteps(20)
    ours.set_timesteps(20)
    sample, model_output, noise = _inputs(torch, 3)
    for t in ours.timesteps[::5]:
        r = ref.step(torch.from_numpy(model_output), int(t), torch.from_numpy(sample), eta=0.3,
                     use_clipped_model_output=True, variance_noise=torch.from_numpy(noise))
        o = ours.step(model_output, int(t), sample, eta=0.3, use_clipped_model_output=True, variance_noise=noise)
        assert_matches_oracle(o.prev_sample, r.prev_sample.numpy(), what=f"t={t}")


def test_float64_and_torch_inputs_keep_their_type(torch):
    ref = DiffusersDDIM(prediction_type="v_prediction")
    ours = DDIMScheduler(prediction_type="v_prediction")
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    sample, model_output, _ = _inputs(torch, 4)
    s64, m64 = torch.from_numpy(sample.astype(np.float64)), torch.from_numpy(model_output.astype(np.float64))
    r = ref.step(m64, 901, s64)
    o = ours.step(m64, torch.tensor(901), s64)
    assert isinstance(o.prev_sample, torch.Tensor) and o.prev_sample.dtype == torch.float64
    assert_matches_oracle(o.prev_sample.numpy(), r.prev_sample.numpy())
    on = ours.step(model_output.astype(np.float64), np.int64(901), sample.astype(np.float64))
    assert isinstance(on.prev_sample, np.ndarray) and on.prev_sample.dtype == np.float64
    prev, x0 = ours.step(model_output, 901, sample, return_dict=False)
    assert prev.dtype == np.float32 and x0.shape == SHAPE
    assert ours.step(model_output, 901, sample)["prev_sample"] is not None


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 4, 8), (1, 2, 3, 4, 5)])
def test_step_on_any_rank(torch, shape):
    # diffusers' _threshold_sample fails on 2-D samples (np.prod of no dims is a float), so the oracle
    # can only check thresholding from 3-D up.
    thresholding = len(shape) >= 3
    ref = DiffusersDDIM(thresholding=thresholding, sample_max_value=2.0)
    ours = DDIMScheduler(thresholding=thresholding, sample_max_value=2.0)
    ref.set_timesteps(25)
    ours.set_timesteps(25)
    g = Generator(11)
    sample, model_output = g.randn(shape) * 2, g.randn(shape)
    r = ref.step(torch.from_numpy(model_output), 481, torch.from_numpy(sample))
    o = ours.step(model_output, 481, sample)
    assert_matches_oracle(o.prev_sample, r.prev_sample.numpy())


def test_eta_noise_from_generators_matches_diffusers(torch):
    ref = DiffusersDDIM()
    ours = DDIMScheduler()
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    sample, model_output, _ = _inputs(torch, 5)
    r = ref.step(torch.from_numpy(model_output), 501, torch.from_numpy(sample), eta=1.0,
                 generator=torch.Generator().manual_seed(9))
    for generator in (torch.Generator().manual_seed(9), Generator(9)):  # torch's and ours draw the same noise
        o = ours.step(model_output, 501, sample, eta=1.0, generator=generator)
        assert_matches_oracle(o.prev_sample, r.prev_sample.numpy())


def test_add_noise_and_get_velocity_match(torch):
    ref = DiffusersDDIM(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    ours = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    g = Generator(6)
    x0, noise = g.randn((3, 4, 8, 8)), g.randn((3, 4, 8, 8))
    for timesteps in ([10, 500, 999], [250]):
        t = torch.tensor(timesteps)
        r = ref.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), t)
        assert_matches_oracle(ours.add_noise(x0, noise, np.array(timesteps)), r.numpy())
        rv = ref.get_velocity(torch.from_numpy(x0), torch.from_numpy(noise), t)
        assert_matches_oracle(ours.get_velocity(x0, noise, t), rv.numpy())
    r64 = ref.add_noise(torch.from_numpy(x0).double(), torch.from_numpy(noise).double(), torch.tensor([10, 20, 30]))
    o64 = ours.add_noise(torch.from_numpy(x0).double(), torch.from_numpy(noise).double(), torch.tensor([10, 20, 30]))
    assert o64.dtype == torch.float64
    assert_matches_oracle(o64.numpy(), r64.numpy())


def test_scale_model_input_and_constants():
    ours = DDIMScheduler()
    x = np.ones((1, 4, 2, 2), np.float32)
    assert ours.scale_model_input(x, 10) is x
    assert ours.init_noise_sigma == 1.0 and ours.order == 1 and len(ours) == 1000


@pytest.mark.parametrize("mode", list(X0_MODES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_into_writes_the_same_numbers_as_step(torch, mode, dtype):
    ours = DDIMScheduler(prediction_type="epsilon", **X0_MODES[mode])
    ours.set_timesteps(10)
    sample, model_output, _ = _inputs(torch, 5)
    sample, model_output = sample.astype(dtype), model_output.astype(dtype)
    prev, x0 = np.full(SHAPE, np.nan, dtype), np.full(SHAPE, np.nan, dtype)
    for t in ours.timesteps:
        expected = ours.step(model_output, int(t), sample)
        assert ours.step_into(model_output, np.int64(t), sample, prev, x0, use_clipped_model_output=True) is None
        clipped = ours.step(model_output, int(t), sample, use_clipped_model_output=True)
        np.testing.assert_array_equal(prev, clipped.prev_sample)
        np.testing.assert_array_equal(x0, expected.pred_original_sample)
        ours.step_into(model_output, int(t), sample, prev, x0)
        np.testing.assert_array_equal(prev, expected.prev_sample)


def test_step_into_rejects_buffers_it_cannot_write_safely(torch):
    ours = DDIMScheduler()
    ours.set_timesteps(10)
    sample, model_output, _ = _inputs(torch, 6)
    prev, x0 = np.empty_like(sample), np.empty_like(sample)
    t = int(ours.timesteps[2])
    with pytest.raises(ValueError, match="prev_sample shares memory with sample"):
        ours.step_into(model_output, t, sample, sample, x0)
    with pytest.raises(ValueError, match="prev_sample shares memory with pred_original_sample"):
        ours.step_into(model_output, t, sample, prev, prev)
    with pytest.raises(ValueError, match=r"prev_sample has shape \[1, 4, 6, 5\] but sample has shape \[2, 4, 6, 5\]"):
        ours.step_into(model_output, t, sample, prev[:1], x0)
    with pytest.raises(TypeError, match="pred_original_sample must be a C-contiguous float32 array"):
        ours.step_into(model_output, t, sample, prev, x0.astype(np.float64))
    with pytest.raises(TypeError, match="model_output must be a C-contiguous float32"):
        ours.step_into(np.asfortranarray(model_output), t, sample, prev, x0)
    frozen = np.empty_like(sample)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="prev_sample must be a writeable array"):
        ours.step_into(model_output, t, sample, frozen, x0)
    with pytest.raises(ValueError, match="set_timesteps"):
        DDIMScheduler().step_into(model_output, t, sample, prev, x0)
