"""``DPMSolverMultistepScheduler``: diffusers' DPMSolverMultistepScheduler API over the native C++
implementation (``cpp/src/scheduling_dpmsolver_multistep.cpp``): DPM-Solver and DPM-Solver++ (Lu et al.
2022), orders 1-3, midpoint or Heun, the SDE variants with noise from the same seed as diffusers, Karras or
exponential sigmas. AUTOMATIC1111's "DPM++ 2M" (Karras) and "DPM++ 2M SDE" (Karras)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import to_native
from ortdiffusion.schedulers.outputs import SchedulerOutput
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, float_timestep
from ortdiffusion.schedulers.step_inputs import noise_source, step_count, timesteps_on_device


class DPMSolverMultistepScheduler(SigmaScheduler):
    """DPM-Solver(++) multistep scheduler with diffusers' ``DPMSolverMultistepScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``solver_order`` 2,
    ``algorithm_type`` "dpmsolver++", ``solver_type`` "midpoint", ``lower_order_final``, ``euler_at_final``,
    ``use_karras_sigmas``, ``use_exponential_sigmas``, ``final_sigmas_type``, ``lambda_min_clipped``,
    ``use_beta_sigmas``, ``use_lu_lambdas``, ``thresholding`` ...). Flow sigmas, dynamic shifting and learned
    variance (not for SD 1.x UNets) are refused."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.dpmsolver_config_keys())
    _native_class = _native.DPMSolverMultistepScheduler
    _null_means: ClassVar[dict] = {"lambda_min_clipped": float("-inf")}

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "DPMSolverMultistepScheduler arguments")
        self._after_init()

    @property
    def is_stochastic(self) -> bool:
        """True for the SDE variants, whose steps draw noise."""
        return str(self._internal_dict["algorithm_type"]).startswith("sde-")

    @property
    def timesteps(self) -> Any:
        """Inference timesteps (int64, descending), numpy or torch as the caller runs (see
        :attr:`SigmaScheduler.timesteps`)."""
        return timesteps_on_device(self._native.timesteps.astype(np.int64), self._device)

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the initial noise (1.0: DPM-Solver works on the variance-preserving sample)."""
        return 1.0

    @property
    def lower_order_nums(self) -> int:
        """How many earlier model outputs the next update can use (capped at ``solver_order``)."""
        return int(self._native.lower_order_nums)

    def set_timesteps(
        self, num_inference_steps: int | None = None, device: Any = None, mu: float | None = None, timesteps: Any = None
    ) -> None:
        """Timesteps and sigmas for ``num_inference_steps`` as diffusers computes them (or the given integer
        ``timesteps``); starts a new loop."""
        if mu is not None:
            raise NotImplementedError("mu (dynamic shifting of flow-matching models) is not implemented")
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("Must pass exactly one of `num_inference_steps` or `timesteps`.")
        if timesteps is not None:
            values = timesteps.detach().cpu().numpy() if hasattr(timesteps, "detach") else timesteps
            self._native.set_timesteps_from([int(t) for t in values])
        else:
            self._native.set_timesteps(step_count(num_inference_steps))
        self._device = device

    def scale_model_input(self, sample: Any, *args: Any, **kwargs: Any) -> Any:
        """DPM-Solver does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(
        self,
        model_output: Any,
        timestep: Any,
        sample: Any,
        generator: Any = None,
        variance_noise: Any = None,
        return_dict: bool = True,
    ) -> SchedulerOutput | tuple:
        """One multistep update (the first steps and, when configured, the last ones at lower order).
        The SDE variants draw float32 noise from ``generator`` as diffusers does (or take
        ``variance_noise``). Returns :class:`SchedulerOutput` or ``(prev_sample,)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        native_generator = noise = None
        if self.is_stochastic:
            if variance_noise is not None:
                noise = np.ascontiguousarray(to_native(variance_noise, "variance_noise")[0], dtype=np.float32)
            else:  # float32 noise whatever the model's dtype (diffusers' randn_tensor(dtype=torch.float32))
                native_generator, noise = noise_source(generator, model_output, model_np.shape, np.float32)
        prev = back(self._native.step(model_np, t, sample_np, noise, native_generator))
        return SchedulerOutput(prev) if return_dict else (prev,)

    def step_into(self, model_output: np.ndarray, timestep: Any, sample: np.ndarray, prev_sample: np.ndarray) -> None:
        """:meth:`step` writing x_{t-1} into ``prev_sample`` (C-contiguous numpy arrays of one float dtype and
        shape, ``prev_sample`` sharing no memory with the inputs): the allocation-free loop. Deterministic
        variants only (the SDE ones need a generator: use :meth:`step`)."""
        if self.is_stochastic:
            raise ValueError(f"step_into is for the deterministic variants; {self._internal_dict['algorithm_type']} "
                             "draws noise: use step(..., generator=...)")
        self._native.step(model_output, float_timestep(timestep), sample, None, None, prev_sample)
