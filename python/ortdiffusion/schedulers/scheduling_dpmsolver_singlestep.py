"""``DPMSolverSinglestepScheduler``: diffusers' DPMSolverSinglestepScheduler API over the native C++
implementation (``cpp/src/scheduling_dpmsolver_singlestep.cpp``): DPM-Solver(++) in its singlestep form
(groups of 1-3 steps, each integrated from the group's first sample), the SDE variant with noise from the
same seed as diffusers. AUTOMATIC1111's "DPM++ SDE" in diffusers' table (and "DPM++ SDE Karras")."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from ortdiffusion import _native
from ortdiffusion.schedulers.outputs import SchedulerOutput
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler
from ortdiffusion.schedulers.step_inputs import noise_source, step_count, timesteps_on_device

logger = logging.getLogger(__name__)


class DPMSolverSinglestepScheduler(SigmaScheduler):
    """DPM-Solver(++) singlestep scheduler with diffusers' ``DPMSolverSinglestepScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``solver_order`` 2,
    ``algorithm_type`` "dpmsolver++" ("dpmsolver", "sde-dpmsolver++"), ``solver_type`` "midpoint",
    ``lower_order_final`` False, ``use_karras_sigmas``, ``use_exponential_sigmas``, ``use_beta_sigmas``,
    ``final_sigmas_type``, ``lambda_min_clipped``, ``thresholding`` ...). Flow sigmas, dynamic shifting and
    learned variance are refused."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.dpmsolver_singlestep_config_keys())
    _native_class = _native.DPMSolverSinglestepScheduler
    _null_means: ClassVar[dict] = {"lambda_min_clipped": float("-inf")}

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "DPMSolverSinglestepScheduler arguments")
        self._after_init()

    @property
    def timesteps(self) -> Any:
        """Inference timesteps (int64, descending), numpy or torch as the caller runs."""
        return timesteps_on_device(self._native.timesteps.astype(np.int64), self._device)

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the initial noise (1.0: DPM-Solver works on the variance-preserving sample)."""
        return 1.0

    @property
    def order_list(self) -> list[int]:
        """The solver order of each step of the current schedule."""
        return list(self._native.order_list)

    def get_order_list(self, num_inference_steps: int) -> list[int]:
        """The solver order of each of ``num_inference_steps`` steps (diffusers' get_order_list)."""
        return list(self._native.get_order_list(int(num_inference_steps)))

    def set_timesteps(
        self, num_inference_steps: int | None = None, device: Any = None, mu: float | None = None, timesteps: Any = None
    ) -> None:
        """Timesteps and sigmas for ``num_inference_steps`` as diffusers computes them (or the given integer
        ``timesteps``); starts a new loop. As diffusers, a step count that is not a multiple of
        ``solver_order``, or a zero final sigma, turns ``lower_order_final`` on in the config (with a warning
        for the former)."""
        if mu is not None:
            raise NotImplementedError("mu (dynamic shifting of flow-matching models) is not implemented")
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("Must pass exactly one of  `num_inference_steps` or `timesteps`.")
        before = bool(self._internal_dict["lower_order_final"])
        if timesteps is not None:
            values = timesteps.detach().cpu().numpy() if hasattr(timesteps, "detach") else timesteps
            self._native.set_timesteps_from([int(t) for t in values])
        else:
            self._native.set_timesteps(step_count(num_inference_steps))
        if bool(self._native.lower_order_final) != before:
            if len(self._native.timesteps) % int(self._internal_dict["solver_order"]) != 0:
                logger.warning(
                    "Changing scheduler %s to have `lower_order_final` set to True to handle uneven amount of "
                    "inference steps. Please make sure to always use an even number of `num_inference steps when "
                    "using `lower_order_final=False`.", type(self).__name__,
                )
            self._record_native_change(lower_order_final=True)
        self._device = device

    def scale_model_input(self, sample: Any, *args: Any, **kwargs: Any) -> Any:
        """DPM-Solver does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(
        self, model_output: Any, timestep: Any, sample: Any, generator: Any = None, return_dict: bool = True
    ) -> SchedulerOutput | tuple:
        """One singlestep update (its order from :attr:`order_list`). sde-dpmsolver++ draws noise of the model
        output's dtype from ``generator`` as diffusers does. Returns :class:`SchedulerOutput` or
        ``(prev_sample,)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        native_generator = noise = None
        if self._internal_dict["algorithm_type"] == "sde-dpmsolver++":
            native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev = back(self._native.step(model_np, t, sample_np, noise, native_generator))
        return SchedulerOutput(prev) if return_dict else (prev,)
