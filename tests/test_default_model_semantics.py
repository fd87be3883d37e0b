"""The shipped default model draws what the prompt says: the prompt's shape colour and background colours
cover the picture (nearest-named-colour scoring), the shape is recognised well above chance, and changing
only the prompt changes the picture accordingly. Thresholds come from measured margins (see the numbers
in each test); the prompts are held-out attribute combinations, several seeds each."""

from __future__ import annotations

import numpy as np
import pytest

import ortdiffusion as od
from ortdiffusion.models import default_model_path
from ortdiffusion.training import shapes
from ortdiffusion.training.scoring import classify_shape, colour_check, colour_fractions

STEPS = 20
GUIDANCE = 7.5
SEEDS = (0, 1, 2)
# Measured on the shipped model (2026-11-25, int8-packed): colours 36/36 here and 72/72 on seeds 10-15; shapes
# 81% here and 88% on seeds 10-15 (83% and 89% before packing) (stars 50-58% and crosses 67-75% are the weak ones). The thresholds leave room for
# other CPUs' kernels while still failing if the prompt stops steering the picture (chance is 1/8 for a
# colour, 1/6 for a shape).
COLOUR_THRESHOLD = 0.9
SHAPE_THRESHOLD = 0.6


@pytest.fixture(scope="module")
def pipe():
    pipeline = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _generate(pipe, prompts: list[str], seed: int) -> np.ndarray:
    images = pipe(prompts, num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=seed, output_type="np").images
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def _prompts() -> list[shapes.ShapeAttributes]:
    """Every shape twice, in colour pairs chosen to cover all 8 colours as shape and as background."""
    pairs = [("red", "blue"), ("yellow", "purple"), ("white", "green"), ("black", "orange"),
             ("blue", "white"), ("green", "black"), ("orange", "yellow"), ("purple", "red")]
    return [shapes.ShapeAttributes(shape, colour, (background,), None, (0.5, 0.5), 0.3, 0.0)
            for k, shape in enumerate(shapes.SHAPES)
            for colour, background in (pairs[k % 8], pairs[(k + 3) % 8])]


@pytest.fixture(scope="module")
def generated(pipe):
    attributes = _prompts()
    prompts = [a.caption for a in attributes]
    return attributes, [_generate(pipe, prompts, seed) for seed in SEEDS]


def test_prompt_colours_cover_the_picture(generated):
    """Shape colour on >= 2% of the pixels and background colour(s) on >= 30%; measured 36 of 36."""
    attributes, batches = generated
    checks = [colour_check(image, a)["ok"] for images in batches for image, a in zip(images, attributes)]
    assert np.mean(checks) >= COLOUR_THRESHOLD, f"{np.mean(checks):.2f} of the pictures have the prompt's colours"


def test_prompt_shapes_are_recognised(generated):
    """Chance is 1/6; measured 29 of 36 pictures (30 before packing) classified as the prompt's shape."""
    attributes, batches = generated
    hits = [classify_shape(image, a.colour)[0] == a.shape for images in batches for image, a in zip(images, attributes)]
    assert np.mean(hits) >= SHAPE_THRESHOLD, f"{np.mean(hits):.2f} of the shapes recognised"


def test_changing_only_the_prompt_swaps_the_colours(pipe):
    """Same seed, swapped colours: each picture is mostly the colours its own prompt names."""
    for seed in SEEDS:
        first, second = (_generate(pipe, [prompt], seed)[0] for prompt in
                         ("a red circle on a blue background", "a blue circle on a red background"))
        a, b = colour_fractions(first), colour_fractions(second)
        assert a["blue"] > a["red"] and b["red"] > b["blue"], (seed, a, b)
