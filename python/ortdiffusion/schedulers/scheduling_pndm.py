"""``PNDMScheduler``: diffusers' PNDMScheduler API over the native C++ implementation
(``cpp/src/scheduling_pndm.cpp``): the pseudo numerical methods of Liu et al. 2022, PRK warm-up then PLMS,
or PLMS alone with ``skip_prk_steps`` (Stable Diffusion 1.x's stock scheduler). Same config keys and
defaults, same timesteps, same numbers. numpy in, numpy out; torch in, torch out.

The scheduler keeps the model outputs of earlier steps (a multistep method), so one instance serves one
denoising loop at a time; ``set_timesteps`` starts a new loop."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import to_native
from ortdiffusion.schedulers.native_scheduler import NativeScheduler
from ortdiffusion.schedulers.outputs import SchedulerOutput
from ortdiffusion.schedulers.step_inputs import step_count, timestep_to_int, timesteps_on_device


class PNDMScheduler(NativeScheduler):
    """Pseudo numerical methods for diffusion models (Liu et al. 2022) with diffusers' ``PNDMScheduler``
    API.

    Keyword arguments are diffusers' config keys (``num_train_timesteps``, ``beta_start``, ``beta_end``,
    ``beta_schedule``, ``trained_betas``, ``skip_prk_steps``, ``set_alpha_to_one``, ``prediction_type``
    ("epsilon" or "v_prediction"), ``timestep_spacing``, ``steps_offset``) with the same defaults. Unknown
    keys raise ``TypeError``; :meth:`from_config` ignores them as diffusers does."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    order = 1
    pndm_order = 4
    _config_keys = tuple(_native.pndm_config_keys())
    _native_class = _native.PNDMScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "PNDMScheduler arguments")
        self._after_init()

    def _after_init(self) -> None:
        super()._after_init()
        self._ets_shape: tuple | None = None

    # ---- state -------------------------------------------------------------------------------
    @property
    def timesteps(self) -> Any:
        """The timesteps of the loop (PRK steps, then PLMS steps; the PLMS warm-up repeats one), as an
        int64 numpy array, or a torch tensor when :meth:`set_timesteps` was given a ``device``; None
        before :meth:`set_timesteps`, as in diffusers."""
        if self.num_inference_steps is None:
            return None
        return timesteps_on_device(self._native.timesteps, self._device)

    @property
    def prk_timesteps(self) -> np.ndarray | None:
        """The Runge-Kutta part of :attr:`timesteps` (empty with ``skip_prk_steps``)."""
        return None if self.num_inference_steps is None else self._native.prk_timesteps

    @property
    def plms_timesteps(self) -> np.ndarray | None:
        """The linear multistep part of :attr:`timesteps`."""
        return None if self.num_inference_steps is None else self._native.plms_timesteps

    @property
    def counter(self) -> int:
        """Steps taken since :meth:`set_timesteps`."""
        return int(self._native.counter)

    @property
    def ets(self) -> list:
        """The model outputs the multistep formula remembers, oldest first (diffusers' ``ets``; at most
        the last 4, all PLMS reads). Assigning a list of arrays or tensors replaces them (after
        :meth:`set_timesteps`)."""
        if self.num_inference_steps is None or self._ets_shape is None:
            return []
        return [timesteps_on_device(e, self._device) for e in self._native.ets(self._ets_shape)]

    @ets.setter
    def ets(self, outputs: list) -> None:
        if not outputs:
            self._native.set_ets([])
            return
        arrays = [to_native(o, "ets entry")[0] for o in outputs]
        dtype = arrays[0].dtype
        self._native.set_ets([np.ascontiguousarray(a, dtype=dtype) for a in arrays])
        self._ets_shape = arrays[0].shape

    @property
    def final_alpha_cumprod(self) -> float:
        """alpha_bar used past the last step (1.0 with ``set_alpha_to_one``, else alphas_cumprod[0])."""
        return float(self._native.final_alpha_cumprod)

    # ---- the scheduler protocol --------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int, device: Any = None) -> None:
        """Set the timesteps as diffusers does for the configured spacing and start a new loop (the
        history of model outputs is cleared). Without ``skip_prk_steps`` at least 4 steps are needed."""
        self._native.set_timesteps(step_count(num_inference_steps))
        self._device = device

    def scale_model_input(self, sample: Any, *args: Any, **kwargs: Any) -> Any:
        """PNDM does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = True) -> SchedulerOutput | tuple:
        """One step x_t -> x_{t-δ}: a Runge-Kutta step for the first 12 calls (unless ``skip_prk_steps``),
        then linear multistep steps (PNDM paper, formula (9) with the combined model outputs). Returns
        :class:`SchedulerOutput`, or ``(prev_sample,)`` with ``return_dict=False``, of the type of
        ``model_output``."""
        return self._step("step", model_output, timestep, sample, return_dict)

    def step_prk(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = True) -> SchedulerOutput | tuple:
        """A pseudo Runge-Kutta step (four model evaluations per timestep, PNDM paper Algorithm 2)."""
        return self._step("prk", model_output, timestep, sample, return_dict)

    def step_plms(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = True) -> SchedulerOutput | tuple:
        """A pseudo linear multistep step (Adams-Bashforth weights over up to four model outputs)."""
        return self._step("plms", model_output, timestep, sample, return_dict)

    def _step(self, method: str, model_output: Any, timestep: Any, sample: Any, return_dict: bool) -> SchedulerOutput | tuple:
        t = timestep_to_int(timestep)
        model_np, back = to_native(model_output, "model_output")
        sample_np, _ = to_native(sample, "sample")
        if sample_np.dtype != model_np.dtype:
            sample_np = sample_np.astype(model_np.dtype)
        prev = back(self._native.step(model_np, t, sample_np, None, method))
        self._ets_shape = model_np.shape
        return SchedulerOutput(prev) if return_dict else (prev,)

    def step_into(self, model_output: np.ndarray, timestep: int, sample: np.ndarray, prev_sample: np.ndarray) -> None:
        """:meth:`step` writing x_{t-δ} into ``prev_sample`` instead of allocating it (for loops that
        allocate nothing per step). All three are C-contiguous numpy arrays of one float dtype and shape;
        ``prev_sample`` must be writeable and share no memory with the inputs."""
        self._native.step(model_output, timestep_to_int(timestep), sample, prev_sample, "step")

