"""``LCMScheduler``: diffusers' LCMScheduler API over the native C++ implementation
(``cpp/src/scheduling_lcm.cpp``): multistep consistency sampling for LCM-distilled UNets and LCM-LoRAs
(2-8 steps, guidance about 1), noise from the same seed as diffusers. AUTOMATIC1111's "LCM"."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import timesteps_to_array, to_native
from ortdiffusion.schedulers.native_scheduler import NativeScheduler
from ortdiffusion.schedulers.outputs import diffusers_output
from ortdiffusion.schedulers.step_inputs import noise_source, step_count, timestep_to_int


@diffusers_output
class LCMSchedulerOutput(NamedTuple):
    """Output of :meth:`LCMScheduler.step` (diffusers' ``LCMSchedulerOutput``): ``prev_sample`` for the next
    step and ``denoised``, the step's x_0 estimate."""

    prev_sample: Any
    denoised: Any


class LCMScheduler(NativeScheduler):
    """Latent consistency model scheduler with diffusers' ``LCMScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (``original_inference_steps`` 50,
    ``timestep_scaling`` 10, ``set_alpha_to_one``, ``clip_sample``, ``thresholding``, ``prediction_type`` ...)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _config_keys = tuple(_native.lcm_config_keys())
    _native_class = _native.LCMScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "LCMScheduler arguments")
        self._after_init()

    @property
    def step_index(self) -> int | None:
        """The index of the next step (None until the first ``step``)."""
        return self._native.step_index

    @property
    def begin_index(self) -> int | None:
        """The first step's index when a pipeline set it (img2img), else None."""
        return self._native.begin_index

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Start the loop at ``begin_index`` (diffusers' pipelines call this for img2img)."""
        self._native.set_begin_index(int(begin_index))

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: Any = None,
        original_inference_steps: int | None = None,
        timesteps: Any = None,
        strength: float = 1.0,
    ) -> None:
        """n timesteps picked evenly from the distillation schedule (``original_inference_steps`` of them, the
        first ``strength`` of them for img2img), or the given descending ``timesteps``."""
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("Must pass exactly one of `num_inference_steps` or `custom_timesteps`.")
        if timesteps is not None:
            self._native.set_timesteps_from([int(t) for t in timesteps_to_array(timesteps)], float(strength))
        else:
            self._native.set_timesteps(step_count(num_inference_steps), int(original_inference_steps or 0),
                                       float(strength))
        self._device = device

    def previous_timestep(self, timestep: Any) -> Any:
        """The timestep after ``timestep`` in the schedule (-1 after the last), as diffusers'
        ``previous_timestep``; ``timestep - T // n`` before :meth:`set_timesteps`."""
        t = timestep_to_int(timestep)
        schedule = [int(v) for v in self._native.timesteps]
        if self.num_inference_steps:
            if t not in schedule:
                raise ValueError(f"timestep {t} is not one of this schedule's {len(schedule)} timesteps")
            index = schedule.index(t)
            return np.int64(-1 if index == len(schedule) - 1 else schedule[index + 1])
        return np.int64(t - int(self._internal_dict["num_train_timesteps"]) // int(self._internal_dict["num_train_timesteps"]))

    def scale_model_input(self, sample: Any, timestep: Any = None) -> Any:
        """LCM does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(
        self, model_output: Any, timestep: Any, sample: Any, generator: Any = None, return_dict: bool = True
    ) -> LCMSchedulerOutput | tuple:
        """One consistency step: the boundary-condition ``denoised`` from the model's x_0 estimate, then noise
        to the next timestep drawn from ``generator`` as diffusers draws it (none at the last step). Returns
        :class:`LCMSchedulerOutput` or ``(prev_sample, denoised)``."""
        t = timestep_to_int(timestep)
        model_np, back = to_native(model_output, "model_output")
        sample_np, _ = to_native(sample, "sample")
        if sample_np.dtype != model_np.dtype:
            sample_np = sample_np.astype(model_np.dtype)
        native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, denoised = self._native.step(model_np, t, sample_np, noise, native_generator)
        prev, denoised = back(prev), back(denoised)
        return LCMSchedulerOutput(prev, denoised) if return_dict else (prev, denoised)

