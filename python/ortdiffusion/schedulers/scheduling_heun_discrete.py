"""``HeunDiscreteScheduler``: diffusers' HeunDiscreteScheduler API over the native C++ implementation
(``cpp/src/scheduling_heun_discrete.cpp``): Heun's second-order method of Karras et al. 2022, two model
calls per step (the timesteps are interleaved: ``order`` is 2), Karras or exponential sigmas. AUTOMATIC1111's
"Heun" (and "Heun Karras")."""

from __future__ import annotations

from typing import Any

from ortdiffusion import _native
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, SigmaSchedulerOutput

HeunDiscreteSchedulerOutput = SigmaSchedulerOutput


class HeunDiscreteScheduler(SigmaScheduler):
    """Heun scheduler (Karras et al. 2022, Algorithm 1) with diffusers' ``HeunDiscreteScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``beta_start`` 0.00085,
    ``beta_end`` 0.012, ``prediction_type``, ``use_karras_sigmas``, ``use_exponential_sigmas``,
    ``clip_sample``, ``timestep_spacing`` "linspace" ...; ``beta_schedule`` also "exp")."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    order = 2
    _config_keys = tuple(_native.heun_config_keys())
    _native_class = _native.HeunDiscreteScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "HeunDiscreteScheduler arguments")
        self._after_init()

    @property
    def state_in_first_order(self) -> bool:
        """True when the next call is a predictor (a new timestep), False for the corrector."""
        return bool(self._native.state_in_first_order)

    def set_timesteps(
        self, num_inference_steps: int | None = None, device: Any = None, num_train_timesteps: Any = None,
        timesteps: Any = None,
    ) -> None:
        """The interleaved timesteps and sigmas for ``num_inference_steps`` (or the given ``timesteps``)."""
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("Must pass exactly one of `num_inference_steps` or `custom_timesteps`.")
        if num_train_timesteps not in (None, self._internal_dict["num_train_timesteps"]):
            raise NotImplementedError("num_train_timesteps other than the config's is not supported")
        if timesteps is not None:
            values = timesteps.detach().cpu().numpy() if hasattr(timesteps, "detach") else timesteps
            self._native.set_timesteps_from([float(t) for t in values])
            self._device = device
            return
        super().set_timesteps(num_inference_steps, device)

    def step(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = True) -> SigmaSchedulerOutput | tuple:
        """One call of Heun's method: the Euler predictor (first order) or the trapezoidal corrector. Returns
        :class:`SigmaSchedulerOutput` or ``(prev_sample, pred_original_sample)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        prev, x0 = self._native.step(model_np, t, sample_np)
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)
