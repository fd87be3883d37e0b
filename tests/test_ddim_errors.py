"""Bad input to the scheduler: each a clear ValueError/TypeError naming the problem, never a crash."""

import numpy as np
import pytest

from ortdiffusion import ArgumentError, DDIMScheduler, Generator


@pytest.fixture
def scheduler():
    s = DDIMScheduler()
    s.set_timesteps(10)
    return s


def test_step_before_set_timesteps():
    with pytest.raises(ValueError, match="set_timesteps"):
        DDIMScheduler().step(np.zeros(4, np.float32), 10, np.zeros(4, np.float32))


def test_mismatched_shapes(scheduler):
    with pytest.raises(ArgumentError, match=r"model_output has shape \[1, 4, 8, 8\] but sample has shape \[1, 4, 8, 9\]"):
        scheduler.step(np.zeros((1, 4, 8, 8), np.float32), 901, np.zeros((1, 4, 8, 9), np.float32))
    with pytest.raises(ArgumentError, match="variance_noise has shape"):
        scheduler.step(np.zeros(8, np.float32), 901, np.zeros(8, np.float32), eta=0.5, variance_noise=np.zeros(3))


@pytest.mark.parametrize("timestep", [1000, -1, 5000])
def test_timesteps_outside_the_schedule(scheduler, timestep):
    with pytest.raises(ArgumentError, match=f"timestep {timestep} is outside the noise schedule: valid timesteps are 0 to 999"):
        scheduler.step(np.zeros(8, np.float32), timestep, np.zeros(8, np.float32))
    with pytest.raises(ArgumentError, match="outside the noise schedule"):
        scheduler.add_noise(np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32), [timestep])


def test_bad_step_counts(scheduler):
    with pytest.raises(ArgumentError, match=r"num_inference_steps \(1001\) cannot be larger than num_train_timesteps \(1000\)"):
        scheduler.set_timesteps(1001)
    with pytest.raises(ArgumentError, match="at least 1, got 0"):
        scheduler.set_timesteps(0)
    with pytest.raises(TypeError, match="must be an int"):
        scheduler.set_timesteps(2.5)


def test_bad_types(scheduler):
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        scheduler.step([0.0, 1.0], 901, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        scheduler.step(np.zeros(2, np.int32), 901, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="timestep must be an integer"):
        scheduler.step(np.zeros(2, np.float32), 901.5, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="generator must be"):
        scheduler.step(np.zeros(2, np.float32), 901, np.zeros(2, np.float32), eta=1.0, generator=np.random.default_rng())


def test_noise_and_generator_together(scheduler):
    x = np.zeros(20, np.float32)
    with pytest.raises(ValueError, match="Cannot pass both generator and variance_noise"):
        scheduler.step(x, 901, x, eta=0.5, generator=Generator(0), variance_noise=x)


def test_add_noise_batch_mismatch(scheduler):
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(ArgumentError, match="got 2 timesteps for a batch of 3"):
        scheduler.add_noise(x, x, [1, 2])


def test_thresholding_needs_a_batch_dimension():
    s = DDIMScheduler(thresholding=True)
    s.set_timesteps(10)
    with pytest.raises(ArgumentError, match="at least 2 dimensions"):
        s.step(np.zeros(8, np.float32), 901, np.zeros(8, np.float32))


def test_non_contiguous_and_half_inputs_work(scheduler):
    g = Generator(1)
    x = g.randn((2, 4, 8, 8))
    e = g.randn((2, 4, 8, 8))
    strided = scheduler.step(e[:, :, ::2], 901, x[:, :, ::2]).prev_sample
    np.testing.assert_array_equal(strided, scheduler.step(e[:, :, ::2].copy(), 901, x[:, :, ::2].copy()).prev_sample)
    half = scheduler.step(e.astype(np.float16), 901, x.astype(np.float16)).prev_sample
    assert half.dtype == np.float16
