"""``KDPM2DiscreteScheduler``: diffusers' KDPM2DiscreteScheduler API over the native C++ implementation
(``cpp/src/scheduling_k_dpm_2_discrete.cpp``): DPM-Solver-2 (Karras et al. 2022, Algorithm 2 with the
geometric midpoint), two model calls per step (``order`` is 2), Karras, exponential or beta sigmas.
AUTOMATIC1111's "DPM2" (and "DPM2 Karras")."""

from __future__ import annotations

from typing import Any

from ortdiffusion import _native
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, SigmaSchedulerOutput
from ortdiffusion.schedulers.step_inputs import timesteps_on_device


class KDPM2DiscreteScheduler(SigmaScheduler):
    """DPM-Solver-2 scheduler with diffusers' ``KDPM2DiscreteScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``beta_start`` 0.00085,
    ``beta_end`` 0.012, ``beta_schedule``, ``trained_betas``, ``use_karras_sigmas``,
    ``use_exponential_sigmas``, ``use_beta_sigmas``, ``prediction_type`` ("epsilon" or "v_prediction"),
    ``timestep_spacing`` "linspace", ``steps_offset``)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    order = 2
    _config_keys = tuple(_native.kdpm2_config_keys())
    _native_class = _native.KDPM2DiscreteScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "KDPM2DiscreteScheduler arguments")
        self._after_init()

    @property
    def state_in_first_order(self) -> bool:
        """True when the next call is the first half of a step (a new timestep), False for the midpoint."""
        return bool(self._native.state_in_first_order)

    @property
    def sigmas_interpol(self) -> Any:
        """The geometric midpoints between consecutive sigmas, interleaved as :attr:`sigmas`."""
        return timesteps_on_device(self._native.sigmas_interpol, self._device)

    def step(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = True) -> SigmaSchedulerOutput | tuple:
        """One call of DPM-Solver-2: Euler to the midpoint (first half) or the midpoint's derivative over the
        whole step (second half). Returns :class:`SigmaSchedulerOutput` or ``(prev_sample,
        pred_original_sample)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        prev, x0 = self._native.step(model_np, t, sample_np)
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)
