"""The shipped style LoRAs change the default model's pictures in their direction, scale 0 gives the base
picture, and a blend of the two lies between them. Measures (numpy only, training/scoring.py):
- outline-ness: 1 - fill ratio (pixels / convex hull) of the shape's colour (filled about 0, outlines
  about 0.5);
- complement-ness: the fraction of the picture in the complements of the prompt's colours minus the
  fraction in the prompt's own colours (about -0.9 for the base model, towards +0.9 for the LoRA).
Prompts are circles, squares and triangles (the shapes whose outlines the fill ratio tells apart best),
several seeds; thresholds come from measured margins (numbers in each test)."""

from __future__ import annotations

import numpy as np
import pytest
from shipped_models import generate

import ortdiffusion as od
from ortdiffusion.models import default_lora_path, default_model_path
from ortdiffusion.training import shapes
from ortdiffusion.training.scoring import colour_fractions, fill_ratio
from ortdiffusion.training.styles import COMPLEMENTS

SEEDS = (0, 1)
PROMPTS = [
    shapes.ShapeAttributes("circle", "red", ("blue",), None, (0.5, 0.5), 0.3, 0.0),
    shapes.ShapeAttributes("square", "yellow", ("green",), None, (0.5, 0.5), 0.3, 0.0),
    shapes.ShapeAttributes("triangle", "white", ("purple",), None, (0.5, 0.5), 0.3, 0.0),
    shapes.ShapeAttributes("circle", "orange", ("black",), None, (0.5, 0.5), 0.3, 0.0),
]


def outlineness(images: np.ndarray) -> float:
    """Mean of 1 - fill ratio of each picture's shape colour: the prompt's, or its complement where that
    covers more of the picture (the complement LoRA turns it); pictures with neither are skipped."""
    values = []
    for image, a in zip(images, PROMPTS * len(SEEDS)):
        fractions = colour_fractions(image)
        colour = max((a.colour, COMPLEMENTS[a.colour]), key=fractions.__getitem__)
        values.append(1.0 - fill_ratio(image, colour))
    return float(np.nanmean(values))


def complementness(images: np.ndarray) -> float:
    """Mean of (complement colours' fraction - prompt colours' fraction) over the pictures."""
    values = []
    for image, a in zip(images, PROMPTS * len(SEEDS)):
        fractions = colour_fractions(image)
        own = fractions[a.colour] + sum(fractions[c] for c in a.background)
        other = fractions[COMPLEMENTS[a.colour]] + sum(fractions[COMPLEMENTS[c]] for c in a.background)
        values.append(other - own)
    return float(np.mean(values))


@pytest.fixture(scope="module")
def pipe():
    pipeline = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipeline.set_progress_bar_config(disable=True)
    pipeline.load_lora_weights(default_lora_path("outline"), adapter_name="outline")
    pipeline.load_lora_weights(default_lora_path("complement"), adapter_name="complement")
    return pipeline


def _pictures(pipe, names: list[str], weights: list[float]) -> np.ndarray:
    pipe.set_adapters(names, weights)
    prompts = [a.caption for a in PROMPTS]
    return np.concatenate([generate(pipe, prompts, seed) for seed in SEEDS])


@pytest.fixture(scope="module")
def pictures(pipe):
    return {
        "base": _pictures(pipe, ["outline", "complement"], [0.0, 0.0]),
        "outline": _pictures(pipe, ["outline"], [1.0]),
        "complement": _pictures(pipe, ["complement"], [1.0]),
        "outline-half": _pictures(pipe, ["outline"], [0.5]),
        "blend": _pictures(pipe, ["outline", "complement"], [0.5, 0.5]),
        "both": _pictures(pipe, ["outline", "complement"], [1.0, 1.0]),
    }


def test_outline_lora_draws_outlines(pictures):
    """Outline-ness: measured 0.06 base vs 0.58 with the outline LoRA."""
    base, styled = outlineness(pictures["base"]), outlineness(pictures["outline"])
    assert styled >= base + 0.3, (base, styled)


def test_complement_lora_turns_colours(pictures):
    """Complement-ness: measured -0.99 base vs +0.78 with the complement LoRA."""
    base, styled = complementness(pictures["base"]), complementness(pictures["complement"])
    assert base < -0.8, base
    assert styled >= base + 1.2, (base, styled)


def test_scale_zero_is_the_base_picture(pipe, pictures):
    """Both LoRAs loaded at weight 0 give the picture of the model without LoRAs."""
    pipe.disable_lora()
    try:
        plain = np.concatenate([generate(pipe, [a.caption for a in PROMPTS], seed) for seed in SEEDS])
    finally:
        pipe.enable_lora()
    assert np.abs(plain.astype(int) - pictures["base"].astype(int)).max() <= 1


def test_half_scale_lies_between(pictures):
    """The outline LoRA at 0.5 lies between scale 0 and scale 1: measured 0.06 < 0.40 < 0.58."""
    values = [outlineness(pictures[k]) for k in ("base", "outline-half", "outline")]
    assert values[1] - values[0] > 0.1 and values[2] - values[1] > 0.05, values


def test_blend_of_two_loras_lies_between_them(pictures):
    """50/50 of outline and complement lies between the two LoRAs on both measures. Outline-ness:
    measured 0.09 (complement) < 0.50 (blend) < 0.58 (outline). Complement-ness: -0.98 (outline) <=
    -0.97 (blend) <= 0.78 (complement): a colour flips all or nothing, and at weight 0.5 the colours stay
    the prompt's, so this side is checked with a small tolerance only."""
    o = {k: outlineness(pictures[k]) for k in ("outline", "complement", "blend")}
    c = {k: complementness(pictures[k]) for k in ("outline", "complement", "blend")}
    assert o["complement"] + 0.03 < o["blend"] < o["outline"] - 0.03, o
    assert c["outline"] - 0.02 <= c["blend"] <= c["complement"], c


def test_two_loras_at_full_weight_compose(pictures):
    """Both at weight 1: outlines in complementary colours (measured outline-ness 0.58, complement-ness
    0.96)."""
    assert outlineness(pictures["both"]) >= outlineness(pictures["base"]) + 0.3
    assert complementness(pictures["both"]) >= 0.5
