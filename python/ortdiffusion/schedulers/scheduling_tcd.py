"""``TCDScheduler``: diffusers' TCDScheduler API over the native C++ implementation
(``cpp/src/scheduling_tcd.cpp``): trajectory consistency distillation's strategic stochastic sampling for
TCD-LoRAs and TCD-distilled UNets (2-8 steps, ``eta`` the gamma of the paper), noise from the same seed as
diffusers. AUTOMATIC1111's "TCD"."""

from __future__ import annotations

from typing import Any, NamedTuple

from ortdiffusion import _native
from ortdiffusion._arrays import to_native
from ortdiffusion.schedulers.outputs import diffusers_output
from ortdiffusion.schedulers.scheduling_lcm import LCMScheduler
from ortdiffusion.schedulers.step_inputs import noise_source, timestep_to_int


@diffusers_output
class TCDSchedulerOutput(NamedTuple):
    """Output of :meth:`TCDScheduler.step` (diffusers' ``TCDSchedulerOutput``): ``prev_sample`` for the next
    step and ``pred_noised_sample``, the sample at the earlier timestep s on the predicted trajectory."""

    prev_sample: Any
    pred_noised_sample: Any


class TCDScheduler(LCMScheduler):
    """Trajectory consistency distillation scheduler with diffusers' ``TCDScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (those of LCMScheduler:
    ``original_inference_steps`` 50, ``set_alpha_to_one``, ``prediction_type`` ...)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    _native_class = _native.TCDScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "TCDScheduler arguments")
        self._after_init()

    def step(
        self, model_output: Any, timestep: Any, sample: Any, eta: float = 0.3, generator: Any = None,
        return_dict: bool = True,
    ) -> TCDSchedulerOutput | tuple:
        """One TCD step with gamma ``eta`` (0: deterministic; 0.3 diffusers' default): x_0 and the noise from
        the model output, the sample at s = floor((1 - eta) t_prev), then noise forward to t_prev drawn from
        ``generator`` as diffusers draws it (none at the last step or with eta 0). Returns
        :class:`TCDSchedulerOutput` or ``(prev_sample, pred_noised_sample)``."""
        t = timestep_to_int(timestep)
        model_np, back = to_native(model_output, "model_output")
        sample_np, _ = to_native(sample, "sample")
        if sample_np.dtype != model_np.dtype:
            sample_np = sample_np.astype(model_np.dtype)
        native_generator, noise = None, None
        if self._native.step_draws_noise(t, float(eta)):
            native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, noised = self._native.step(model_np, t, sample_np, float(eta), noise, native_generator)
        prev, noised = back(prev), back(noised)
        return TCDSchedulerOutput(prev, noised) if return_dict else (prev, noised)
