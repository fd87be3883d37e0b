"""What the sigma-based schedulers' Python facades share (Euler, Euler ancestral; later Heun, LMS, DPM2):
float timesteps and sigmas, the step index found from the first timestep or set with
``set_begin_index``, ``scale_model_input`` and ``add_noise``, over the native ``SigmaStepper``."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ortdiffusion._arrays import is_torch_tensor, to_native
from ortdiffusion.schedulers.native_scheduler import NativeScheduler
from ortdiffusion.schedulers.outputs import diffusers_output
from ortdiffusion.schedulers.step_inputs import scalar_for_caller, step_count, timesteps_on_device


@diffusers_output
class SigmaSchedulerOutput(NamedTuple):
    """Output of a sigma scheduler's ``step`` (diffusers' ``EulerDiscreteSchedulerOutput``):
    ``prev_sample`` is x_{t-1}, ``pred_original_sample`` the predicted x_0."""

    prev_sample: Any
    pred_original_sample: Any


def float_timestep(timestep: Any) -> float:
    """A timestep of ``scheduler.timesteps`` (float, int, numpy scalar or 1-element tensor or array) as a
    float; whether it is in the schedule is checked by the native side."""
    kind = type(timestep)
    if kind is float or kind is np.float32 or kind is np.float64:  # the loop's own values: no other check
        return float(timestep)
    if kind.__name__ == "Tensor" and is_torch_tensor(timestep) and timestep.numel() == 1:  # the values under torch
        return float(timestep.item())
    if is_torch_tensor(timestep) or isinstance(timestep, np.ndarray):
        size = timestep.numel() if is_torch_tensor(timestep) else timestep.size
        if size != 1:
            raise TypeError(f"timestep must be a single value, got an array of shape {tuple(timestep.shape)}")
        return float(timestep.item())  # item(): a scalar of any 1-element shape, ~15x cheaper than indexing
    if isinstance(timestep, (bool, np.bool_)) or not isinstance(timestep, (int, float, np.integer, np.floating)):
        raise TypeError(f"timestep must be a number (one of scheduler.timesteps), got {timestep!r}")
    return float(timestep)


class SigmaScheduler(NativeScheduler):
    """Shared facade of the sigma-based schedulers (use the concrete classes)."""

    # ---- state -------------------------------------------------------------------------------
    @property
    def timesteps(self) -> Any:
        """Inference timesteps (float32, descending; fractional for "linspace" spacing and Karras sigmas), a
        numpy array or, when :meth:`set_timesteps` was given a ``device``, a torch tensor."""
        return timesteps_on_device(self._native.timesteps, self._device)

    @property
    def sigmas(self) -> Any:
        """The noise levels of the steps (float32), with the level after the last step appended."""
        return timesteps_on_device(self._native.sigmas, self._device)

    @property
    def step_index(self) -> int | None:
        """The index of the next step (None until the first ``scale_model_input`` or ``step``)."""
        return self._native.step_index

    @property
    def begin_index(self) -> int | None:
        """The first step's index when a pipeline set it (img2img), else None."""
        return self._native.begin_index

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Start the loop at ``begin_index`` (diffusers' pipelines call this for img2img)."""
        self._native.set_begin_index(int(begin_index))

    @property
    def init_noise_sigma(self) -> Any:
        """Standard deviation of the initial noise: the largest sigma ("linspace"/"trailing" spacing) or
        sqrt(max sigma^2 + 1); a 0-d float32 tensor when torch is loaded (as diffusers), else a float."""
        return scalar_for_caller(float(self._native.init_noise_sigma))

    # ---- the scheduler protocol --------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, **kwargs: Any) -> None:
        """Timesteps and sigmas for ``num_inference_steps`` exactly as diffusers computes them; ``device``
        makes :attr:`timesteps` and :attr:`sigmas` torch tensors on it."""
        self._native.set_timesteps(step_count(num_inference_steps))
        self._device = device

    def scale_model_input(self, sample: Any, timestep: Any) -> Any:
        """The UNet input for the current step: sample / sqrt(sigma^2 + 1) (Karras et al. 2022, c_in)."""
        sample_np, back = to_native(sample, "sample")
        return back(self._native.scale_model_input(sample_np, float_timestep(timestep)))

    def add_noise(self, original_samples: Any, noise: Any, timesteps: Any) -> Any:
        """original + noise * sigma(t), one timestep per batch item (or one for all), the sigma found
        from the schedule as diffusers does (or at the begin index once it is set)."""
        original_np, back = to_native(original_samples, "original_samples")
        noise_np, _ = to_native(noise, "noise")
        if is_torch_tensor(timesteps):
            timesteps = timesteps.detach().cpu().numpy()
        t = np.asarray(timesteps, dtype=np.float64).reshape(-1)
        return back(self._native.add_noise(original_np, noise_np.astype(original_np.dtype, copy=False), t))

    def _prepare_step(self, model_output: Any, timestep: Any, sample: Any) -> tuple:
        """(model array, sample array of its dtype, float timestep, back-conversion)."""
        t = float_timestep(timestep)
        model_np, back = to_native(model_output, "model_output")
        sample_np, _ = to_native(sample, "sample")
        if sample_np.dtype != model_np.dtype:
            sample_np = sample_np.astype(model_np.dtype)
        return model_np, sample_np, t, back
