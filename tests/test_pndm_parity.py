"""ortdiffusion.PNDMScheduler against diffusers.PNDMScheduler (the oracle): whole denoising loops over a
grid of configs and step counts, torch-seeded inputs; timesteps exactly equal, every step within 1e-6 of
the step's magnitude (torch's float32 sqrt goes through MKL VML, not always correctly rounded: an ulp in
a coefficient; see docs/schedulers.md, "Same numbers")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_matches_oracle
from diffusers import PNDMScheduler as DiffusersPNDM

from ortdiffusion import ConfigError, PNDMScheduler

SCHEDULES = {
    "linear": {"beta_schedule": "linear"},
    "scaled_linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
    "squaredcos_cap_v2": {"beta_schedule": "squaredcos_cap_v2"},
    "trained_betas": {"trained_betas": np.linspace(1e-4, 2e-2, 1000).tolist()},
}
PREDICTIONS = ["epsilon", "v_prediction"]
SPACINGS = ["leading", "trailing", "linspace"]
STEP_COUNTS = [1, 2, 3, 7, 10, 20, 25, 50]
SHAPE = (2, 4, 6, 5)  # batch 2
# The stock Stable Diffusion 1.5 scheduler_config.json.
SD15_PNDM = {
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None, "clip_sample": False,
}


def _loop(torch, config, n, dtype=None, seed=0):
    """Run both schedulers through a whole loop, each step on the same inputs (the reference's sample and
    a stand-in model output 0.5 noise_k + 0.1 x_t), so each step's error is its own, not accumulated."""
    dtype = dtype or torch.float32
    ref = DiffusersPNDM.from_config(config)
    ours = PNDMScheduler.from_config(config)
    ref.set_timesteps(n)
    ours.set_timesteps(n)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy(), err_msg=f"{config} n={n}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g, dtype=dtype)
    for i, t in enumerate(ref.timesteps):
        model_output = torch.randn(SHAPE, generator=g, dtype=dtype) * 0.5 + 0.1 * x
        out_ours = ours.step(model_output.numpy(), int(t), x.numpy()).prev_sample
        x = ref.step(model_output, t, x).prev_sample
        assert out_ours.dtype == x.numpy().dtype
        # the step's terms: x_t and the model output over sqrt(alpha_bar_t) (huge at the cosine schedule's end)
        magnitude = (float(x.abs().max()) + float(model_output.abs().max())) / float(np.sqrt(ref.alphas_cumprod[int(t)]))
        assert_matches_oracle(out_ours, x.numpy(), 1e-6, f"{config} n={n} step {i} t={int(t)}", magnitude)
    assert ours.counter == ref.counter


def test_independent_loops_end_together(torch):
    """Each scheduler on its own trajectory (errors may compound): the SD 1.5 PLMS loop of 50 steps ends
    within 1e-5 of diffusers'."""
    ref, ours = DiffusersPNDM.from_config(SD15_PNDM), PNDMScheduler.from_config(SD15_PNDM)
    ref.set_timesteps(50)
    ours.set_timesteps(50)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(SHAPE, generator=g)
    y = x.numpy().copy()
    for t in ref.timesteps:
        noise = torch.randn(SHAPE, generator=g)
        x = ref.step(noise * 0.5 + 0.1 * x, t, x).prev_sample
        y = ours.step((noise * 0.5).numpy() + np.float32(0.1) * y, int(t), y).prev_sample
    assert_matches_oracle(y, x.numpy(), 1e-5, "independent 50-step loops")


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("prediction_type", PREDICTIONS)
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_loops_match_diffusers_over_grid(torch, schedule, prediction_type, spacing):
    for skip_prk, steps_offset, set_alpha_to_one in itertools.product([True, False], [0, 1], [False, True]):
        config = {**SCHEDULES[schedule], "prediction_type": prediction_type, "timestep_spacing": spacing,
                  "skip_prk_steps": skip_prk, "steps_offset": steps_offset, "set_alpha_to_one": set_alpha_to_one}
        for n in STEP_COUNTS:
            if not skip_prk and n < 4:
                continue  # diffusers fails there (numpy broadcast error); ours refuses, see below
            _loop(torch, config, n)


@pytest.mark.parametrize("config", [SD15_PNDM, {}], ids=["sd15-plms", "default-prk"])
def test_999_steps_and_float64(torch, config):
    _loop(torch, config, 999)
    _loop(torch, config, 20, dtype=torch.float64)


def test_torch_in_torch_out_and_outputs_like_diffusers(torch):
    ours = PNDMScheduler.from_config(SD15_PNDM)
    ours.set_timesteps(10, device="cpu")
    assert isinstance(ours.timesteps, torch.Tensor) and ours.timesteps.dtype == torch.int64
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    out = ours.step(x * 0.3, ours.timesteps[0], x)
    assert isinstance(out.prev_sample, torch.Tensor) and out.prev_sample.dtype == torch.float32
    assert out["prev_sample"] is out.prev_sample and out[0] is out.prev_sample
    assert list(out.keys()) == ["prev_sample"] and out.to_tuple() == (out.prev_sample,)
    (prev,) = ours.step(x * 0.3, ours.timesteps[1], x, return_dict=False)
    assert isinstance(prev, torch.Tensor)


def test_prk_and_plms_steps_called_directly(torch):
    ref, ours = DiffusersPNDM(), PNDMScheduler()
    ref.set_timesteps(10)
    ours.set_timesteps(10)
    np.testing.assert_array_equal(ours.prk_timesteps, ref.prk_timesteps)
    np.testing.assert_array_equal(ours.plms_timesteps, ref.plms_timesteps)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    x_ours = x.numpy()
    for t in ref.prk_timesteps:
        x = ref.step_prk(x * 0.2, int(t), x).prev_sample
        x_ours = ours.step_prk(x_ours * np.float32(0.2), int(t), x_ours).prev_sample
    for t in ref.plms_timesteps[:3]:
        x = ref.step_plms(x * 0.2, int(t), x).prev_sample
        x_ours = ours.step_plms(x_ours * np.float32(0.2), int(t), x_ours).prev_sample
    assert_matches_oracle(x_ours, x.numpy(), 1e-6, "prk then plms")


def test_step_into_writes_the_same_numbers_without_allocating():
    a, b = PNDMScheduler.from_config(SD15_PNDM), PNDMScheduler.from_config(SD15_PNDM)
    a.set_timesteps(6)
    b.set_timesteps(6)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    buffers = [np.empty(SHAPE, np.float32), np.empty(SHAPE, np.float32)]
    y = x
    for i, t in enumerate(a.timesteps):
        model = (rng.standard_normal(SHAPE) * 0.5).astype(np.float32)
        x = a.step(model, t, x).prev_sample
        target = buffers[i % 2]
        b.step_into(model, t, y, target)
        np.testing.assert_array_equal(target, x)
        y = target
    with pytest.raises(ValueError, match="shares memory"):
        b.step_into(model, 1, y, y)


def test_add_noise_matches_diffusers(torch):
    ref, ours = DiffusersPNDM.from_config(SD15_PNDM), PNDMScheduler.from_config(SD15_PNDM)
    g = torch.Generator().manual_seed(3)
    x0, noise = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    t = torch.tensor([10, 900])
    expected = ref.add_noise(x0, noise, t)
    assert_matches_oracle(ours.add_noise(x0.numpy(), noise.numpy(), t.numpy()), expected.numpy(), 1e-6, "add_noise")
    assert isinstance(ours.add_noise(x0, noise, t), torch.Tensor)


def test_bad_input_raises_clear_errors():
    ours = PNDMScheduler()
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="set_timesteps"):
        ours.step(x, 1, x)
    with pytest.raises(ValueError, match="skip_prk_steps=False needs at least 4 inference steps.*got num_inference_steps=3"):
        ours.set_timesteps(3)
    ours.set_timesteps(10)
    with pytest.raises(ValueError, match="timestep 1000 is outside the noise schedule"):
        ours.step(x, 1000, x)
    ours.step(x, 900, x)
    with pytest.raises(ValueError, match="started with float32 tensors and got float64"):
        ours.step(x.astype(np.float64), 900, x.astype(np.float64))
    with pytest.raises(ValueError, match="sample has 120 elements.*earlier steps of this loop had 240"):
        ours.step(x[:1], 900, x[:1])
    with pytest.raises(ConfigError, match="'prediction_type' \"sample\" is not supported by PNDMScheduler"):
        PNDMScheduler(prediction_type="sample")
    with pytest.raises(ConfigError, match="'skip_prk_steps' must be true or false"):
        PNDMScheduler.from_config({"skip_prk_steps": "yes"})
    with pytest.raises(ConfigError, match="timestep_spacing 'uniform' is not supported"):
        PNDMScheduler(timestep_spacing="uniform")
    with pytest.raises(TypeError, match="unexpected config keys \\['clip_sample'\\]"):
        PNDMScheduler(clip_sample=False)
    with pytest.raises(TypeError, match="num_inference_steps must be an int"):
        ours.set_timesteps(2.5)
    with pytest.raises(ValueError, match="PLMS steps need|can only run after.*12 Runge-Kutta steps"):
        fresh = PNDMScheduler()
        fresh.set_timesteps(10)
        fresh.step_plms(x, 900, x)
