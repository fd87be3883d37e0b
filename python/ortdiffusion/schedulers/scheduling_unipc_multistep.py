"""``UniPCMultistepScheduler``: diffusers' UniPCMultistepScheduler API over the native C++ implementation
(``cpp/src/scheduling_unipc_multistep.cpp``): the UniP predictor and UniC corrector of Zhao et al. 2023,
bh1/bh2, data or noise prediction, Karras or exponential sigmas. AUTOMATIC1111's "UniPC"."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortdiffusion import _native
from ortdiffusion.schedulers.outputs import SchedulerOutput
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, float_timestep
from ortdiffusion.schedulers.step_inputs import step_count, timesteps_on_device


class UniPCMultistepScheduler(SigmaScheduler):
    """UniPC multistep scheduler with diffusers' ``UniPCMultistepScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``solver_order`` 2,
    ``predict_x0``, ``solver_type`` "bh2", ``lower_order_final``, ``disable_corrector``,
    ``use_karras_sigmas``, ``use_exponential_sigmas``, ``final_sigmas_type``, ``sigma_min``, ``sigma_max``,
    ``thresholding`` ...). ``solver_p``, beta and flow sigmas and dynamic shifting are refused (not
    implemented)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.unipc_config_keys())
    _native_class = _native.UniPCMultistepScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "UniPCMultistepScheduler arguments")
        self._after_init()

    @property
    def timesteps(self) -> Any:
        """Inference timesteps (int64, descending), numpy or torch as the caller runs."""
        return timesteps_on_device(self._native.timesteps.astype(np.int64), self._device)

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the initial noise (1.0)."""
        return 1.0

    @property
    def lower_order_nums(self) -> int:
        """How many earlier model outputs the next update can use (capped at ``solver_order``)."""
        return int(self._native.lower_order_nums)

    @property
    def this_order(self) -> int:
        """The order of the last predictor step (the next corrector's order)."""
        return int(self._native.this_order)

    def set_timesteps(
        self, num_inference_steps: int | None = None, device: Any = None, sigmas: Any = None, mu: Any = None
    ) -> None:
        """Timesteps and sigmas for ``num_inference_steps`` as diffusers computes them; starts a new loop."""
        if sigmas is not None or mu is not None:
            raise NotImplementedError("sigmas= and mu= are for flow-matching models (use_flow_sigmas): not implemented")
        self._native.set_timesteps(step_count(num_inference_steps))
        self._device = device

    def scale_model_input(self, sample: Any, *args: Any, **kwargs: Any) -> Any:
        """UniPC does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = True) -> SchedulerOutput | tuple:
        """One step: the corrector refines the incoming sample with this model output (from the second step
        on), then the predictor steps on. Returns :class:`SchedulerOutput` or ``(prev_sample,)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        prev = back(self._native.step(model_np, t, sample_np, None))
        return SchedulerOutput(prev) if return_dict else (prev,)

    def step_into(self, model_output: np.ndarray, timestep: Any, sample: np.ndarray, prev_sample: np.ndarray) -> None:
        """:meth:`step` writing x_{t-1} into ``prev_sample`` (the allocation-free loop; C-contiguous numpy arrays
        of one float dtype and shape, ``prev_sample`` sharing no memory with the inputs)."""
        self._native.step(model_output, float_timestep(timestep), sample, prev_sample)
