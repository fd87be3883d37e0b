"""``DDIMScheduler``: diffusers' DDIMScheduler API over the native C++ implementation.

Same config keys and defaults, same timesteps, same numbers (see ``cpp/src/scheduling_ddim.cpp``).
Accepts numpy arrays or torch tensors and returns the type it was given, so it can replace the scheduler
of a diffusers pipeline: ``pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)``.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import timesteps_to_array, to_native
from ortdiffusion.schedulers.native_scheduler import NativeScheduler
from ortdiffusion.schedulers.outputs import diffusers_output
from ortdiffusion.schedulers.step_inputs import noise_source, step_count, timestep_to_int

logger = logging.getLogger(__name__)

_CONFIG_KEYS = tuple(_native.ddim_config_keys())
_INT_TYPES = (int, np.int64, np.int32)  # timestep types the fast path takes as they are


@diffusers_output
class DDIMSchedulerOutput(NamedTuple):
    """Output of :meth:`DDIMScheduler.step` (diffusers' ``DDIMSchedulerOutput``): ``prev_sample`` is
    x_{t-1}, ``pred_original_sample`` the predicted x_0. Also indexable as ``out[0]`` or
    ``out["prev_sample"]``."""

    prev_sample: Any
    pred_original_sample: Any


class DDIMScheduler(NativeScheduler):
    """Denoising diffusion implicit models (Song et al. 2020) with diffusers' ``DDIMScheduler`` API.

    Keyword arguments are the ``scheduler_config.json`` keys of diffusers (``num_train_timesteps``,
    ``beta_start``, ``beta_end``, ``beta_schedule``, ``trained_betas``, ``clip_sample``,
    ``set_alpha_to_one``, ``steps_offset``, ``prediction_type``, ``thresholding``,
    ``dynamic_thresholding_ratio``, ``clip_sample_range``, ``sample_max_value``, ``timestep_spacing``,
    ``rescale_betas_zero_snr``) with the same defaults. Unknown keys raise ``TypeError`` here;
    :meth:`from_config` ignores them as diffusers does.
    """

    # the public name: diffusers records ["ortdiffusion", "<class>"] in model_index.json and finds the class
    # (and, once diffusers is loaded, its SchedulerMixin base) in the top-level package
    __module__ = "ortdiffusion"

    order = 1
    _config_keys = _CONFIG_KEYS
    _native_class = _native.DDIMScheduler

    def __init__(self, **config: Any) -> None:
        self._init_config(config, "DDIMScheduler arguments")
        self._after_init()

    def _after_init(self) -> None:
        super()._after_init()
        self._scratch: np.ndarray | None = None  # step_into's x_0 when the caller does not want it

    @property
    def final_alpha_cumprod(self) -> float:
        """alpha_bar used past the last step (1.0 with ``set_alpha_to_one``, else alphas_cumprod[0])."""
        return float(self._native.final_alpha_cumprod)

    # ---- the scheduler protocol --------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int, device: Any = None) -> None:
        """Set the inference timesteps exactly as diffusers does for the configured spacing.

        ``device`` (a torch device or its name) makes :attr:`timesteps` a torch tensor on it, as
        diffusers pipelines expect; without it the timesteps are a numpy array."""
        num_inference_steps = step_count(num_inference_steps)
        self._native.set_timesteps(int(num_inference_steps))
        self._device = device

    def scale_model_input(self, sample: Any, timestep: Any | None = None) -> Any:
        """DDIM does not scale the model input: returns ``sample`` unchanged."""
        return sample

    def step(
        self,
        model_output: Any,
        timestep: Any,
        sample: Any,
        eta: float = 0.0,
        use_clipped_model_output: bool = False,
        generator: Any = None,
        variance_noise: Any = None,
        return_dict: bool = True,
    ) -> DDIMSchedulerOutput | tuple:
        """One reverse step x_t -> x_{t-1} (DDIM, eq. 12 of Song et al. 2020).

        ``generator`` (an :class:`ortdiffusion.Generator` or a ``torch.Generator``) draws the noise for
        ``eta > 0`` as diffusers does; ``variance_noise`` gives it directly (not both). Returns
        :class:`DDIMSchedulerOutput`, or ``(prev_sample, pred_original_sample)`` with
        ``return_dict=False``, of the type of ``model_output``."""
        # (before set_timesteps the native step raises ArgumentError, a ValueError, naming set_timesteps)
        t = timestep if type(timestep) in _INT_TYPES else timestep_to_int(timestep)
        if eta == 0 and type(model_output) is np.ndarray and type(sample) is np.ndarray:
            # fast path of the denoising loop; the native side returns None for inputs it does not take
            out = self._native.step_fast(model_output, t, sample, bool(use_clipped_model_output), DDIMSchedulerOutput)
            if out is not None:
                return out if return_dict else tuple(out)
        model_np, back = to_native(model_output, "model_output")
        sample_np, _ = to_native(sample, "sample")
        if sample_np.dtype != model_np.dtype:
            sample_np = sample_np.astype(model_np.dtype)
        native_generator = None
        noise_np = None
        if eta > 0:
            if variance_noise is not None and generator is not None:
                raise ValueError(
                    "Cannot pass both generator and variance_noise. Please make sure that either `generator` "
                    "or `variance_noise` stays `None`."
                )
            if variance_noise is not None:
                noise_np, _ = to_native(variance_noise, "variance_noise")
                noise_np = noise_np.astype(model_np.dtype, copy=False)
            else:
                native_generator, noise_np = noise_source(generator, model_output, model_np.shape, model_np.dtype)
        prev, pred_original = self._native.step(
            model_np, t, sample_np, float(eta), bool(use_clipped_model_output), noise_np, native_generator
        )
        prev, pred_original = back(prev), back(pred_original)
        if not return_dict:
            return (prev, pred_original)
        return DDIMSchedulerOutput(prev, pred_original)

    def step_into(
        self,
        model_output: np.ndarray,
        timestep: int,
        sample: np.ndarray,
        prev_sample: np.ndarray,
        pred_original_sample: np.ndarray | None = None,
        use_clipped_model_output: bool = False,
    ) -> None:
        """:meth:`step` with ``eta = 0``, writing x_{t-1} into ``prev_sample`` and x_0 into
        ``pred_original_sample`` (None: a buffer the scheduler keeps) instead of allocating them (an
        ortdiffusion extension for loops that allocate nothing per step). All are C-contiguous numpy
        arrays of one float dtype and shape; the outputs must be writeable and share no memory with any
        argument (ValueError otherwise: a step reads ``sample`` while it writes). Same numbers as
        :meth:`step`."""
        if pred_original_sample is None:
            scratch = self._scratch
            if scratch is None or scratch.shape != sample.shape or scratch.dtype != sample.dtype:
                scratch = self._scratch = np.empty_like(sample)
            pred_original_sample = scratch
        self._native.step_into(
            model_output, timestep_to_int(timestep), sample, bool(use_clipped_model_output), prev_sample,
            pred_original_sample,
        )

    def get_velocity(self, sample: Any, noise: Any, timesteps: Any) -> Any:
        """v-prediction target v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) sample."""
        sample_np, back = to_native(sample, "sample")
        noise_np, _ = to_native(noise, "noise")
        return back(
            self._native.get_velocity(sample_np, noise_np.astype(sample_np.dtype, copy=False), timesteps_to_array(timesteps))
        )
