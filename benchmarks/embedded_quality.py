"""The embedded model's quality figures for the speed benchmarks (time_to_quality.py, vae_decoder_int8.py): the
semantic tests' 12 prompts (each shape in two colour pairs) x seeds 0-2, scored by training/scoring.py's colour and
shape checks and by PSNR to a reference picture of the same prompt and seed."""

from __future__ import annotations

from typing import Any

import numpy as np

SEEDS = (0, 1, 2)
_PAIRS = [("red", "blue"), ("yellow", "purple"), ("white", "green"), ("black", "orange"),
          ("blue", "white"), ("green", "black"), ("orange", "yellow"), ("purple", "red")]


def attributes() -> list:
    """The 12 prompts' ShapeAttributes: every shape, in two colour pairs."""
    from ortdiffusion.training import shapes

    return [shapes.ShapeAttributes(s, c, (b,), None, (0.5, 0.5), 0.3, 0.0) for k, s in enumerate(shapes.SHAPES)
            for c, b in (_PAIRS[k % 8], _PAIRS[(k + 3) % 8])]


def pictures(pipe: Any, steps: int, guidance: float = 7.5, **kwargs: Any) -> np.ndarray:
    """uint8 pictures of every prompt at every seed (seed-major), from ``pipe`` at ``steps`` and ``guidance``."""
    prompts = [a.caption for a in attributes()]
    pipe.set_progress_bar_config(disable=True)
    return np.concatenate([
        (np.clip(pipe(prompts, num_inference_steps=steps, guidance_scale=guidance, generator=seed, output_type="np",
                      **kwargs).images, 0, 1) * 255).round().astype(np.uint8) for seed in SEEDS])


def scored(images: np.ndarray, reference: np.ndarray) -> dict:
    """Colour and shape pass rates of ``images`` and their mean and lowest PSNR to ``reference`` (same order)."""
    from ortdiffusion.training.scoring import classify_shape, colour_check

    attrs = attributes() * len(SEEDS)
    mse = ((images.astype(np.float64) - reference.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    psnr = [99.0 if m == 0 else 10 * np.log10(255.0**2 / m) for m in mse]
    return {"colour_rate": float(np.mean([colour_check(i, a)["ok"] for i, a in zip(images, attrs)])),
            "shape_rate": float(np.mean([classify_shape(i, a.colour)[0] == a.shape for i, a in zip(images, attrs)])),
            "psnr_db": float(np.mean(psnr)), "min_psnr_db": float(np.min(psnr))}
