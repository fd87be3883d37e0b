"""``EulerAncestralDiscreteScheduler``: diffusers' EulerAncestralDiscreteScheduler API over the native C++
implementation (``cpp/src/scheduling_euler_ancestral.cpp``), AUTOMATIC1111's "Euler a": an Euler step to
sigma_down, then fresh noise of standard deviation sigma_up, drawn from the generator in torch's order so
that seeded pictures equal diffusers'."""

from __future__ import annotations

from typing import Any

from ortdiffusion import _native
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, SigmaSchedulerOutput
from ortdiffusion.schedulers.step_inputs import noise_source

EulerAncestralDiscreteSchedulerOutput = SigmaSchedulerOutput


class EulerAncestralDiscreteScheduler(SigmaScheduler):
    """Ancestral Euler scheduler with diffusers' ``EulerAncestralDiscreteScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``num_train_timesteps``,
    ``beta_start``, ``beta_end``, ``beta_schedule``, ``trained_betas``, ``prediction_type`` ("epsilon" or
    "v_prediction"), ``timestep_spacing``, ``steps_offset``, ``rescale_betas_zero_snr``)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.euler_config_keys(True))
    _native_class = _native.EulerAncestralDiscreteScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "EulerAncestralDiscreteScheduler arguments")
        self._after_init()

    def step(
        self, model_output: Any, timestep: Any, sample: Any, generator: Any = None, return_dict: bool = True
    ) -> SigmaSchedulerOutput | tuple:
        """One ancestral step. ``generator`` (an :class:`ortdiffusion.Generator` or a ``torch.Generator``)
        draws the noise as diffusers does; without one, fresh noise (as diffusers). Returns
        :class:`SigmaSchedulerOutput` or ``(prev_sample, pred_original_sample)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, x0 = self._native.step(model_np, t, sample_np, noise, native_generator)
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)
