"""Helpers shared by the semantic tests of the shipped default model and its variants."""

from __future__ import annotations

import numpy as np

STEPS = 20
GUIDANCE = 7.5


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pipeline output (output_type="np", floats in [0, 1]) as uint8 pictures."""
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def generate(pipe, prompt: str | list[str], seed: int, **kwargs) -> np.ndarray:
    """uint8 pictures [B, H, W, 3] from ``pipe`` with the tests' steps and guidance."""
    kwargs = {"num_inference_steps": STEPS, "guidance_scale": GUIDANCE, **kwargs}
    return to_uint8(pipe(prompt, generator=seed, output_type="np", **kwargs).images)
