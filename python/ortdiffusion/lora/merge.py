"""Merged weights for a set of active LoRAs: W' = W + sum_k weight_k * (alpha_k / r_k) * up_k @ down_k,
computed natively (Eigen) per touched initializer; untouched weights are not copied. float16-stored weights
are merged in float32; the session stores the result back in the initializer's float16."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ortdiffusion import _native
from ortdiffusion.lora.targets import Assignment


def merged_weights(
    base: Mapping[str, np.ndarray], adapters: Sequence[tuple[Sequence[Assignment], float]]
) -> dict[str, np.ndarray]:
    """New arrays for every initializer that ``adapters`` (assignments, adapter weight) touch, read from
    ``base`` (initializer name -> array, e.g. :func:`ortdiffusion.initializers.load`)."""
    factors: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {}
    targets = {}
    for assignments, adapter_weight in adapters:
        for a in assignments:
            up = a.layer.up.reshape(a.layer.up.shape[0], a.layer.rank)
            down = a.layer.down.reshape(a.layer.rank, -1)
            factors.setdefault(a.target.initializer, []).append((up, down, float(adapter_weight) * a.layer.scale))
            targets[a.target.initializer] = a.target
    merged: dict[str, np.ndarray] = {}
    for name, fs in factors.items():
        if name not in base:
            raise ValueError(f"initializer {name!r} is not in the model")
        weight = base[name]
        if weight.dtype == np.float16:  # float16 storage (half_weights.py): merged in float32, stored back rounded
            weight = weight.astype(np.float32)
        if weight.dtype != np.float32:
            raise ValueError(f"initializer {name!r} is {weight.dtype}; LoRA merging needs float32 (or float16) weights")
        target = targets[name]
        rows = weight.shape[0]
        flat = np.ascontiguousarray(weight.reshape(rows, -1))
        merged[name] = _native.lora_merge(flat, target.transposed, fs).reshape(weight.shape)
    return merged
