"""``DDIMScheduler``: diffusers' DDIMScheduler API over the native C++ implementation.

Same config keys and defaults, same timesteps, same numbers (see ``cpp/src/scheduling_ddim.cpp``).
Accepts numpy arrays or torch tensors and returns the type it was given, so it can replace the scheduler
of a diffusers pipeline: ``pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import is_torch_tensor, timesteps_to_array, to_native
from ortdiffusion.atomic_file import write_json_atomic
from ortdiffusion.schedulers.config import (
    CONFIG_NAME,
    FrozenConfig,
    config_to_json,
    find_config_file,
    unknown_keys,
)

logger = logging.getLogger(__name__)

_CONFIG_KEYS = tuple(_native.ddim_config_keys())
_INT_TYPES = (int, np.int64, np.int32)  # timestep types the fast path takes as they are


class DDIMSchedulerOutput(NamedTuple):
    """Output of :meth:`DDIMScheduler.step` (diffusers' ``DDIMSchedulerOutput``): ``prev_sample`` is
    x_{t-1}, ``pred_original_sample`` the predicted x_0. Also indexable as ``out[0]`` or
    ``out["prev_sample"]``."""

    prev_sample: Any
    pred_original_sample: Any

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        """Index by position or by field name, as diffusers' BaseOutput allows."""
        if isinstance(key, str):
            return getattr(self, key)
        return tuple.__getitem__(self, key)

    def to_tuple(self) -> tuple:
        """``(prev_sample, pred_original_sample)``."""
        return tuple(self)


class DDIMScheduler:
    """Denoising diffusion implicit models (Song et al. 2020) with diffusers' ``DDIMScheduler`` API.

    Keyword arguments are the ``scheduler_config.json`` keys of diffusers (``num_train_timesteps``,
    ``beta_start``, ``beta_end``, ``beta_schedule``, ``trained_betas``, ``clip_sample``,
    ``set_alpha_to_one``, ``steps_offset``, ``prediction_type``, ``thresholding``,
    ``dynamic_thresholding_ratio``, ``clip_sample_range``, ``sample_max_value``, ``timestep_spacing``,
    ``rescale_betas_zero_snr``) with the same defaults. Unknown keys raise ``TypeError`` here;
    :meth:`from_config` ignores them as diffusers does.
    """

    order = 1
    config_name = CONFIG_NAME

    def __init__(self, **config: Any) -> None:
        unexpected = unknown_keys(config, _CONFIG_KEYS)
        private = sorted(k for k in config if str(k).startswith("_"))
        if unexpected or private:
            raise TypeError(
                f"DDIMScheduler got unexpected config keys {unexpected + private}; "
                f"known keys: {', '.join(_CONFIG_KEYS)} (use from_config to ignore unknown keys)"
            )
        self._init_native(config_to_json(config), "DDIMScheduler arguments")

    def _init_native(self, config_json: str, source: str) -> None:
        self._native = _native.DDIMScheduler(config_json, source)
        self._config = FrozenConfig(json.loads(self._native.config_json()))
        self._timesteps: Any = self._native.timesteps

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> DDIMScheduler:
        """Build from a config dict (diffusers' ``scheduler.config``, a FrozenDict, or a plain dict),
        with ``kwargs`` overriding its values. Keys DDIM does not know (another scheduler's, or
        ``_class_name``) are ignored, as ``diffusers.DDIMScheduler.from_config`` does."""
        if not isinstance(config, Mapping):
            raise TypeError(
                f"from_config expects a config mapping, got {type(config).__name__}; "
                "use from_pretrained(path) for a folder or file"
            )
        merged = {**dict(config), **kwargs}
        ignored = unknown_keys(merged, _CONFIG_KEYS)
        if ignored:
            logger.debug("DDIMScheduler.from_config ignores keys it does not use: %s", ignored)
        known = {k: v for k, v in merged.items() if k in _CONFIG_KEYS}
        scheduler = cls.__new__(cls)
        scheduler._init_native(config_to_json(known), "config")
        return scheduler

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, subfolder: str | None = None, **kwargs: Any
    ) -> DDIMScheduler:
        """Load ``scheduler_config.json`` from a local folder (``subfolder`` inside it, e.g.
        ``"scheduler"`` for a pipeline folder) or a JSON file. The file is read by the C++ loader;
        ``kwargs`` override its values."""
        path = find_config_file(pretrained_model_name_or_path, subfolder)
        config = json.loads(_native.load_ddim_config(str(path)))
        return cls.from_config(config, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write ``scheduler_config.json`` into ``save_directory`` (atomically), loadable by
        ``diffusers.DDIMScheduler.from_pretrained`` and by :meth:`from_pretrained`. Returns the path."""
        target = Path(save_directory) / CONFIG_NAME
        write_json_atomic(target, {"_class_name": type(self).__name__, **self._config})
        return target

    # ---- state -------------------------------------------------------------------------------
    @property
    def config(self) -> FrozenConfig:
        """The full config (every key, defaults filled in), read-only."""
        return self._config

    @property
    def timesteps(self) -> Any:
        """Inference timesteps, descending: an int64 numpy array, or a torch tensor when
        :meth:`set_timesteps` was given a ``device``."""
        return self._timesteps

    @property
    def num_inference_steps(self) -> int | None:
        """The step count of the last :meth:`set_timesteps` call, or None before it."""
        return self._native.num_inference_steps

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the initial noise (1.0 for DDIM)."""
        return float(self._native.init_noise_sigma)

    @property
    def betas(self) -> np.ndarray:
        """The float32 beta schedule (as diffusers' ``scheduler.betas``)."""
        return self._native.betas

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """float32 cumulative products of (1 - beta) (as diffusers' ``scheduler.alphas_cumprod``)."""
        return self._native.alphas_cumprod

    @property
    def final_alpha_cumprod(self) -> float:
        """alpha_bar used past the last step (1.0 with ``set_alpha_to_one``, else alphas_cumprod[0])."""
        return float(self._native.final_alpha_cumprod)

    def __len__(self) -> int:
        """``num_train_timesteps``, like diffusers schedulers."""
        return int(self._config["num_train_timesteps"])

    def __repr__(self) -> str:
        return f"ortdiffusion.DDIMScheduler({dict(self._config)})"

    # ---- the scheduler protocol --------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int, device: Any = None) -> None:
        """Set the inference timesteps exactly as diffusers does for the configured spacing.

        ``device`` (a torch device or its name) makes :attr:`timesteps` a torch tensor on it, as
        diffusers pipelines expect; without it the timesteps are a numpy array."""
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer)):
            raise TypeError(f"num_inference_steps must be an int, got {num_inference_steps!r}")
        self._native.set_timesteps(int(num_inference_steps))
        timesteps = self._native.timesteps
        if device is not None:
            import torch  # a device was asked for: the caller runs torch

            timesteps = torch.from_numpy(timesteps).to(device)
        self._timesteps = timesteps

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
        if eta == 0 and type(model_output) is np.ndarray and type(sample) is np.ndarray and type(timestep) in _INT_TYPES:
            # fast path of the denoising loop; the native side returns None for inputs it does not take
            out = self._native.step_fast(model_output, timestep, sample, bool(use_clipped_model_output), DDIMSchedulerOutput)
            if out is not None:
                return out if return_dict else tuple(out)
        t = _timestep_to_int(timestep)
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
                native_generator, noise_np = _noise_source(generator, model_output, model_np)
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
        pred_original_sample: np.ndarray,
        use_clipped_model_output: bool = False,
    ) -> None:
        """:meth:`step` with ``eta = 0``, writing x_{t-1} into ``prev_sample`` and x_0 into
        ``pred_original_sample`` instead of allocating them (an ortdiffusion extension for loops that
        allocate nothing per step). All four are C-contiguous numpy arrays of one float dtype and shape;
        the two outputs must be writeable and share no memory with any argument (ValueError otherwise:
        a step reads ``sample`` while it writes). Same numbers as :meth:`step`."""
        self._native.step_into(
            model_output, _timestep_to_int(timestep), sample, bool(use_clipped_model_output), prev_sample,
            pred_original_sample,
        )

    def add_noise(self, original_samples: Any, noise: Any, timesteps: Any) -> Any:
        """Forward diffusion q(x_t | x_0) = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise, one
        timestep per batch item (or one for all)."""
        original_np, back = to_native(original_samples, "original_samples")
        noise_np, _ = to_native(noise, "noise")
        return back(
            self._native.add_noise(original_np, noise_np.astype(original_np.dtype, copy=False), timesteps_to_array(timesteps))
        )

    def get_velocity(self, sample: Any, noise: Any, timesteps: Any) -> Any:
        """v-prediction target v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) sample."""
        sample_np, back = to_native(sample, "sample")
        noise_np, _ = to_native(noise, "noise")
        return back(
            self._native.get_velocity(sample_np, noise_np.astype(sample_np.dtype, copy=False), timesteps_to_array(timesteps))
        )


def _timestep_to_int(timestep: Any) -> int:
    """A timestep given as int, numpy integer or 0-d/1-element torch tensor, as a Python int."""
    if isinstance(timestep, (int, np.integer)) and not isinstance(timestep, bool):
        return int(timestep)
    if is_torch_tensor(timestep) or isinstance(timestep, np.ndarray):
        size = timestep.numel() if is_torch_tensor(timestep) else timestep.size
        value = timestep.item() if size == 1 else None
        if value is not None and float(value) == int(value):
            return int(value)
    raise TypeError(f"timestep must be an integer (int, numpy integer or 1-element tensor), got {timestep!r}")


def _noise_source(generator: Any, model_output: Any, model_np: np.ndarray) -> tuple:
    """Where eta > 0 noise comes from: (native Generator, None) or (None, pre-drawn noise array).

    A torch.Generator (or no generator with torch inputs) draws with torch.randn, as diffusers'
    randn_tensor does; no generator with numpy inputs draws from a freshly seeded Generator."""
    if isinstance(generator, _native.Generator):
        return generator, None
    if generator is not None or is_torch_tensor(model_output):
        if generator is not None and type(generator).__module__.split(".")[0] != "torch":
            raise TypeError(
                f"generator must be an ortdiffusion.Generator or a torch.Generator, got {type(generator).__name__}"
            )
        import torch

        noise = torch.randn(tuple(model_np.shape), generator=generator, dtype=_torch_dtype(model_np.dtype))
        return None, noise.numpy()
    return _native.Generator(int.from_bytes(os.urandom(8), "little")), None


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.float64 if dtype == np.float64 else torch.float32
