"""Seeded noise for the pipelines: an int seed, an :class:`ortdiffusion.Generator` or a
``torch.Generator`` (drawn with ``torch.randn`` like diffusers' ``randn_tensor``; torch is imported only
when the caller passed one of its generators)."""

from __future__ import annotations

import os
import sys
from typing import Any, Union

import numpy as np

from ortdiffusion._native import Generator

GeneratorInput = Union[None, int, Generator, Any]


def _is_torch_generator(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Generator)


def resolve_generator(generator: GeneratorInput) -> Any:
    """The generator a pipeline call draws from: ``None`` -> a freshly seeded :class:`Generator`, an int ->
    ``Generator(seed)``, a Generator or torch.Generator as given. Raises TypeError for anything else
    (diffusers' per-image lists of generators are not supported)."""
    if generator is None:
        return Generator(int.from_bytes(os.urandom(8), "little"))
    if isinstance(generator, bool):
        raise TypeError("generator must be an int seed, an ortdiffusion.Generator or a torch.Generator, got a bool")
    if isinstance(generator, (int, np.integer)):
        return Generator(int(generator))
    if isinstance(generator, Generator) or _is_torch_generator(generator):
        return generator
    if isinstance(generator, (list, tuple)):
        raise TypeError("lists of generators (one per image) are not supported; pass one generator or an int seed")
    raise TypeError(
        f"generator must be an int seed, an ortdiffusion.Generator or a torch.Generator, got {type(generator).__name__}"
    )


def randn(generator: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 noise of ``shape`` from ``generator`` (see :func:`resolve_generator`), the
    same numbers ``torch.randn(shape, generator=...)`` gives for the same seed and state."""
    if isinstance(generator, Generator):
        return generator.randn(tuple(int(s) for s in shape))
    import torch

    return torch.randn(tuple(int(s) for s in shape), generator=generator, dtype=torch.float32).numpy()
