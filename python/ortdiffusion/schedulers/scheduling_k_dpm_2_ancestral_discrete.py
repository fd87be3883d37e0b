"""``KDPM2AncestralDiscreteScheduler``: diffusers' KDPM2AncestralDiscreteScheduler API over the native C++
implementation (``cpp/src/scheduling_k_dpm_2_ancestral_discrete.cpp``): DPM-Solver-2 towards the ancestral
step's sigma_down, then fresh noise of standard deviation sigma_up, drawn as diffusers draws it from the same
generator. AUTOMATIC1111's "DPM2 a" (and "DPM2 a Karras")."""

from __future__ import annotations

from typing import Any

from ortdiffusion import _native
from ortdiffusion.schedulers.sigma_scheduler import SigmaScheduler, SigmaSchedulerOutput
from ortdiffusion.schedulers.step_inputs import noise_source, timesteps_on_device


class KDPM2AncestralDiscreteScheduler(SigmaScheduler):
    """Ancestral DPM-Solver-2 scheduler with diffusers' ``KDPM2AncestralDiscreteScheduler`` API.

    Keyword arguments are diffusers' config keys with the same defaults (those of
    :class:`~ortdiffusion.KDPM2DiscreteScheduler`)."""

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    order = 2
    _config_keys = tuple(_native.kdpm2_config_keys())
    _native_class = _native.KDPM2AncestralDiscreteScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "KDPM2AncestralDiscreteScheduler arguments")
        self._after_init()

    @property
    def state_in_first_order(self) -> bool:
        """True when the next call is the first half of a step (a new timestep), False for the midpoint."""
        return bool(self._native.state_in_first_order)

    @property
    def sigmas_interpol(self) -> Any:
        """The geometric midpoints between each sigma and its sigma_down, interleaved as :attr:`sigmas`."""
        return timesteps_on_device(self._native.sigmas_interpol, self._device)

    @property
    def sigmas_up(self) -> Any:
        """The standard deviation of each step's added noise, interleaved as :attr:`sigmas`."""
        return timesteps_on_device(self._native.sigmas_up, self._device)

    @property
    def sigmas_down(self) -> Any:
        """The noise level each step's deterministic part reaches, interleaved as :attr:`sigmas`."""
        return timesteps_on_device(self._native.sigmas_down, self._device)

    def step(
        self, model_output: Any, timestep: Any, sample: Any, generator: Any = None, return_dict: bool = True
    ) -> SigmaSchedulerOutput | tuple:
        """One call: Euler to the midpoint (first half), or DPM-Solver-2 to sigma_down plus noise (second
        half). ``generator`` (an :class:`ortdiffusion.Generator` or a ``torch.Generator``) draws the noise as
        diffusers does; without one, fresh noise. Returns :class:`SigmaSchedulerOutput` or ``(prev_sample,
        pred_original_sample)``."""
        model_np, sample_np, t, back = self._prepare_step(model_output, timestep, sample)
        if self.state_in_first_order:
            native_generator, noise = None, None  # the first half draws nothing
        else:
            native_generator, noise = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, x0 = self._native.step(model_np, t, sample_np, noise, native_generator)
        prev, x0 = back(prev), back(x0)
        return SigmaSchedulerOutput(prev, x0) if return_dict else (prev, x0)
