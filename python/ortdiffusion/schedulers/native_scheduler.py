"""The state every native scheduler's facade reads the same way: the noise schedule (``betas``,
``alphas_cumprod``), ``num_inference_steps``, ``timesteps`` as the caller holds arrays, ``init_noise_sigma``,
and the alpha_bar forward process (``add_noise``, diffusers' DDPMScheduler.add_noise) that DDIM, PNDM, DDPM
and LCM share. The sigma-based schedulers override what differs (sigma_scheduler.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ortdiffusion._arrays import timesteps_to_array, to_native
from ortdiffusion.schedulers.config_mixin import SchedulerConfigMixin
from ortdiffusion.schedulers.step_inputs import timesteps_on_device


class NativeScheduler(SchedulerConfigMixin):
    """Shared facade of the native schedulers (use the concrete classes)."""

    order = 1

    def _after_init(self) -> None:
        self._device: Any = None

    @property
    def timesteps(self) -> Any:
        """Inference timesteps (descending): a torch tensor when the caller runs torch (a ``device`` given to
        ``set_timesteps``, or torch loaded in the process), else a numpy array."""
        return timesteps_on_device(self._native.timesteps, self._device)

    @property
    def num_inference_steps(self) -> int | None:
        """The step count of the last ``set_timesteps`` call, or None before it."""
        return self._native.num_inference_steps

    @property
    def init_noise_sigma(self) -> Any:
        """Standard deviation of the initial noise (1.0 for the alpha_bar schedulers)."""
        return float(self._native.init_noise_sigma)

    @property
    def betas(self) -> np.ndarray:
        """The float32 beta schedule (as diffusers' ``scheduler.betas``)."""
        return self._native.betas

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """float32 cumulative products of (1 - beta) (as diffusers' ``scheduler.alphas_cumprod``)."""
        return self._native.alphas_cumprod

    def add_noise(self, original_samples: Any, noise: Any, timesteps: Any) -> Any:
        """Forward diffusion q(x_t | x_0) = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise, one timestep per
        batch item (or one for all)."""
        original_np, back = to_native(original_samples, "original_samples")
        noise_np, _ = to_native(noise, "noise")
        return back(self._native.add_noise(original_np, noise_np.astype(original_np.dtype, copy=False),
                                           timesteps_to_array(timesteps)))
