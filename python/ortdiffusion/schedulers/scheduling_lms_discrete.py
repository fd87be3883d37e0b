"""``LMSDiscreteScheduler``: diffusers' LMSDiscreteScheduler API over the native C++ implementation
(``cpp/src/scheduling_lms_discrete.cpp``): a linear multistep method of up to 4th order in sigma, its
coefficients integrated natively as scipy.integrate.quad integrates them for diffusers (no scipy needed).
AUTOMATIC1111's "LMS" (and "LMS Karras")."""

from __future__ import annotations

import warnings
from typing import Any

from ortdiffusion import _native
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, SigmaSchedulerOutput


class LMSDiscreteScheduler(SigmaScheduler):
    """Linear multistep scheduler with diffusers' ``LMSDiscreteScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``beta_start`` 0.0001, ``beta_end``
    0.02, ``beta_schedule``, ``trained_betas``, ``use_karras_sigmas``, ``use_exponential_sigmas``,
    ``use_beta_sigmas``, ``prediction_type``, ``timestep_spacing`` "linspace", ``steps_offset``)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.lms_config_keys())
    _native_class = _native.LMSDiscreteScheduler
    # set by scale_model_input; step warns without it (as diffusers)
    is_scale_input_called = False

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "LMSDiscreteScheduler arguments")
        self._after_init()

    def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, **kwargs: Any) -> None:
        """Timesteps and sigmas for ``num_inference_steps`` as diffusers computes them; clears the derivatives."""
        super().set_timesteps(num_inference_steps, device, **kwargs)

    def scale_model_input(self, sample: Any, timestep: Any) -> Any:
        """sample / sqrt(sigma^2 + 1) for the current step (Karras et al. 2022, c_in)."""
        self.is_scale_input_called = True
        return super().scale_model_input(sample, timestep)

    def get_lms_coefficient(self, order: int, t: int, current_order: int) -> float:
        """The integral from sigmas[t] to sigmas[t + 1] of the Lagrange basis polynomial of the derivative
        ``current_order`` steps back in an ``order``-step update (diffusers' method of the same name)."""
        return float(self._native.get_lms_coefficient(int(order), int(t), int(current_order)))

    def step(
        self, model_output: Any, timestep: Any, sample: Any, order: int = 4, return_dict: bool = True
    ) -> SigmaSchedulerOutput | tuple:
        """One linear multistep step with up to ``order`` past derivatives. Returns
        :class:`SigmaSchedulerOutput` or ``(prev_sample, pred_original_sample)``."""
        if not self.is_scale_input_called:
            warnings.warn(
                "The `scale_model_input` function should be called before `step` to ensure correct denoising. "
                "See `StableDiffusionPipeline` for a usage example.", stacklevel=2,
            )
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        prev, x0 = self._native.step(model_np, t, sample_np, int(order))
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)
