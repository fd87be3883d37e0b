"""``EulerDiscreteScheduler``: diffusers' EulerDiscreteScheduler API over the native C++ implementation
(``cpp/src/scheduling_euler_discrete.cpp``): Karras et al. 2022's Euler method (Algorithm 2) with the
optional churn, Karras or exponential sigmas, linear or log-linear interpolation, discrete or continuous
timesteps. AUTOMATIC1111's "Euler" (and "Euler Karras" with ``use_karras_sigmas=True``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortdiffusion import _native
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, SigmaSchedulerOutput
from ortdiffusion.schedulers.step_inputs import noise_source

EulerDiscreteSchedulerOutput = SigmaSchedulerOutput


class EulerDiscreteScheduler(SigmaScheduler):
    """Euler scheduler (Karras et al. 2022) with diffusers' ``EulerDiscreteScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``num_train_timesteps``,
    ``beta_start``, ``beta_end``, ``beta_schedule``, ``trained_betas``, ``prediction_type``,
    ``interpolation_type``, ``use_karras_sigmas``, ``use_exponential_sigmas``, ``use_beta_sigmas``,
    ``sigma_min``, ``sigma_max``, ``timestep_spacing``, ``timestep_type``,
    ``steps_offset``, ``rescale_betas_zero_snr``, ``final_sigmas_type``)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.euler_config_keys(False))
    _native_class = _native.EulerDiscreteScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "EulerDiscreteScheduler arguments")
        self._after_init()

    def set_timesteps(
        self, num_inference_steps: int | None = None, device: Any = None, timesteps: Any = None, sigmas: Any = None
    ) -> None:
        """Timesteps and sigmas for ``num_inference_steps`` as diffusers computes them, or for the given
        ``timesteps`` (descending training timesteps) or ``sigmas`` (descending noise levels, the last one the
        level after the last step: ``len(sigmas) - 1`` steps)."""
        given = [name for name, value in (("num_inference_steps", num_inference_steps), ("timesteps", timesteps),
                                          ("sigmas", sigmas)) if value is not None]
        if len(given) != 1:
            raise ValueError("Must pass exactly one of `num_inference_steps`, `timesteps` or `sigmas`, got "
                             f"{given or 'none'}")
        if sigmas is not None:
            values = sigmas.detach().cpu().numpy() if hasattr(sigmas, "detach") else sigmas
            self._native.set_sigmas([float(s) for s in np.asarray(values, dtype=np.float32).reshape(-1)])
            self._device = device
            return
        if timesteps is not None:
            values = timesteps.detach().cpu().numpy() if hasattr(timesteps, "detach") else timesteps
            self._native.set_timesteps_from([float(t) for t in values])
            self._device = device
            return
        super().set_timesteps(num_inference_steps, device)

    def step(
        self,
        model_output: Any,
        timestep: Any,
        sample: Any,
        s_churn: float = 0.0,
        s_tmin: float = 0.0,
        s_tmax: float = float("inf"),
        s_noise: float = 1.0,
        generator: Any = None,
        return_dict: bool = True,
    ) -> SigmaSchedulerOutput | tuple:
        """One Euler step from the current sigma to the next (with churn when ``s_churn > 0``, its noise
        drawn from ``generator`` as diffusers draws it). Returns :class:`SigmaSchedulerOutput` or
        ``(prev_sample, pred_original_sample)``, of the type of ``model_output``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        native_generator = noise = None
        if s_churn > 0:
            native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, x0 = self._native.step(model_np, t, sample_np, float(s_churn), float(s_tmin), float(s_tmax),
                                     float(s_noise), noise, native_generator)
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)



