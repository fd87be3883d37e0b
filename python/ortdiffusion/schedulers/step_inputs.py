"""Arguments every scheduler's ``set_timesteps`` / ``step`` takes, in the forms diffusers' callers pass
them: Python ints, numpy integers, 0-d or 1-element torch tensors, torch devices."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from ortdiffusion import _native
from ortdiffusion._arrays import is_torch_tensor


def step_count(num_inference_steps: Any) -> int:
    """``num_inference_steps`` as an int; TypeError naming the value for anything but an integer."""
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer)):
        raise TypeError(f"num_inference_steps must be an int, got {num_inference_steps!r}")
    return int(num_inference_steps)


def timestep_to_int(timestep: Any) -> int:
    """A timestep given as int, numpy integer or 0-d/1-element tensor or array, as a Python int."""
    if type(timestep).__name__ == "Tensor" and is_torch_tensor(timestep) and timestep.numel() == 1:  # under torch
        value = timestep.item()
        if float(value) == int(value):
            return int(value)
    if isinstance(timestep, (int, np.integer)) and not isinstance(timestep, bool):
        return int(timestep)
    if is_torch_tensor(timestep) or isinstance(timestep, np.ndarray):
        size = timestep.numel() if is_torch_tensor(timestep) else timestep.size
        value = timestep.item() if size == 1 else None
        if value is not None and float(value) == int(value):
            return int(value)
    raise TypeError(f"timestep must be an integer (int, numpy integer or 1-element tensor), got {timestep!r}")


def timesteps_on_device(timesteps: np.ndarray, device: Any) -> Any:
    """A schedule array (timesteps, sigmas, betas) as the caller's side holds arrays: a torch tensor (on
    ``device`` when one is given) when the caller runs torch, that is when ``set_timesteps`` got a device or
    torch is loaded in the process (as diffusers gives them), else the numpy array. torch is never
    imported here for a caller that has not loaded it."""
    if device is None and "torch" not in sys.modules:
        return timesteps
    import torch  # already loaded by the caller (or a device was asked for)

    tensor = torch.from_numpy(np.array(timesteps))
    return tensor if device is None else tensor.to(device)


def scalar_for_caller(value: float) -> Any:
    """A float32 scalar diffusers holds as a 0-d tensor (Euler's init_noise_sigma): a 0-d torch tensor
    when torch is loaded in the process, else a float."""
    if "torch" not in sys.modules:
        return value
    import torch

    return torch.tensor(value, dtype=torch.float32)


def noise_source(generator: Any, model_output: Any, shape: tuple, dtype: np.dtype) -> tuple:
    """Where a step's random noise of ``shape`` and ``dtype`` comes from: (native Generator, None) or (None,
    pre-drawn noise array).

    A torch.Generator (or no generator with torch inputs) draws with torch.randn in that dtype, as diffusers'
    randn_tensor does; no generator with numpy inputs draws from a freshly seeded Generator (fresh noise, as
    diffusers without a generator)."""
    if isinstance(generator, _native.Generator):
        return generator, None
    if generator is not None or is_torch_tensor(model_output):
        if generator is not None and type(generator).__module__.split(".")[0] != "torch":
            raise TypeError(
                f"generator must be an ortdiffusion.Generator or a torch.Generator, got {type(generator).__name__}"
            )
        import torch

        torch_dtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
        noise = torch.randn(tuple(shape), generator=generator, dtype=torch_dtype)
        return None, noise.numpy()
    return _native.Generator(int.from_bytes(os.urandom(8), "little")), None
