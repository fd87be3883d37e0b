"""Moving tensors between the caller's type (numpy or torch) and the contiguous numpy arrays the native
core works on. torch is never imported here: a tensor is recognised by its module name, so the
generation path runs where torch is not installed."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

_NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_torch_tensor(value: Any) -> bool:
    """True when ``value`` is a ``torch.Tensor`` (checked without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def to_native(value: Any, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """Return ``value`` as a C-contiguous float32/float64 array and a function that turns a result
    array back into the caller's type (numpy array of the same dtype, or torch tensor on the same
    device with the same dtype). float16/bfloat16 inputs are computed in float32 and cast back."""
    if isinstance(value, np.ndarray):
        array = value
        if array.dtype not in _NATIVE_DTYPES:
            if array.dtype.kind != "f":
                raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}")
            dtype = array.dtype
            return np.ascontiguousarray(array, dtype=np.float32), lambda out: out.astype(dtype)
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        return array, _identity
    if is_torch_tensor(value):
        import torch  # only reached when the caller already uses torch

        tensor = value.detach()
        if not tensor.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
        device, dtype = tensor.device, tensor.dtype
        compute = tensor if dtype in (torch.float32, torch.float64) else tensor.float()
        array = np.ascontiguousarray(compute.cpu().numpy())

        def back(out: np.ndarray) -> Any:
            return torch.from_numpy(out).to(device=device, dtype=dtype)

        return array, back
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")


def timesteps_to_array(timesteps: Any, name: str = "timesteps") -> np.ndarray:
    """Timesteps (int, sequence, numpy array or torch tensor) as a flat int64 array."""
    if is_torch_tensor(timesteps):
        timesteps = timesteps.detach().cpu().numpy()
    array = np.asarray(timesteps)
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.floor(array) == array):
            array = array.astype(np.int64)
        else:
            raise TypeError(f"{name} must be integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64).reshape(-1)


def _identity(out: np.ndarray) -> np.ndarray:
    return out
