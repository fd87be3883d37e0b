"""``DDPMScheduler``: diffusers' DDPMScheduler API over the native C++ implementation
(``cpp/src/scheduling_ddpm.cpp``): ancestral sampling of Ho et al. 2020 over any subset of the training
timesteps, fixed small/large (log) variances, noise from the same seed as diffusers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import timesteps_to_array, to_native
from ortdiffusion.schedulers.native_scheduler import NativeScheduler
from ortdiffusion.schedulers.sigma_scheduler import SigmaSchedulerOutput
from ortdiffusion.schedulers.step_inputs import noise_source, step_count, timestep_to_int

DDPMSchedulerOutput = SigmaSchedulerOutput


class DDPMScheduler(NativeScheduler):
    """Denoising diffusion probabilistic models (Ho et al. 2020) with diffusers' ``DDPMScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``variance_type`` "fixed_small",
    ``clip_sample`` True, ``timestep_spacing`` "leading" ...); learned variances and the "sigmoid" /
    "laplace" schedules are refused (not implemented)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.ddpm_config_keys())
    _native_class = _native.DDPMScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "DDPMScheduler arguments")
        self._after_init()

    def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, timesteps: Any = None) -> None:
        """The timesteps for ``num_inference_steps`` as diffusers spaces them, or the given descending ones."""
        if num_inference_steps is not None and timesteps is not None:
            raise ValueError("Can only pass one of `num_inference_steps` or `custom_timesteps`.")
        if timesteps is not None:
            self._native.set_timesteps_from([int(t) for t in timesteps_to_array(timesteps)])
        else:
            self._native.set_timesteps(step_count(num_inference_steps))
        self._device = device

    def previous_timestep(self, timestep: Any) -> Any:
        """The timestep after ``timestep`` in the schedule (-1 after the last)."""
        return np.int64(self._native.previous_timestep(timestep_to_int(timestep)))

    def scale_model_input(self, sample: Any, timestep: Any = None) -> Any:
        """DDPM does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(
        self, model_output: Any, timestep: Any, sample: Any, generator: Any = None, return_dict: bool = True
    ) -> SigmaSchedulerOutput | tuple:
        """One ancestral step x_t -> x_{t-1} (Ho et al. 2020, Algorithm 2): the posterior mean plus noise of
        the configured variance drawn from ``generator`` (none at timestep 0)."""
        t = timestep_to_int(timestep)
        model_np, back = to_native(model_output, "model_output")
        sample_np, _ = to_native(sample, "sample")
        if sample_np.dtype != model_np.dtype:
            sample_np = sample_np.astype(model_np.dtype)
        native_generator = noise = None
        if t > 0:
            native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, x0 = self._native.step(model_np, t, sample_np, noise, native_generator)
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)

