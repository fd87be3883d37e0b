"""Assemble the trained parts into a diffusers StableDiffusionPipeline, sample it, and score colours.

The score is the semantic check the shipped model must pass, in its simplest form: classify every pixel
of a generated picture to the nearest named colour of the dataset, and ask that the prompt's shape colour
covers some of the picture and its background colour(s) most of the rest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ortdiffusion.training import shapes
from ortdiffusion.training.models import sampling_scheduler
from ortdiffusion.training.scoring import MIN_BACKGROUND_FRACTION, MIN_SHAPE_FRACTION, colour_check

log = logging.getLogger(__name__)

def assemble(
    vae: AutoencoderKL, text_encoder: CLIPTextModel, unet: UNet2DConditionModel, tokenizer: CLIPTokenizer
) -> StableDiffusionPipeline:
    """A StableDiffusionPipeline with the pipelines' DDIMScheduler and no safety checker."""
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=sampling_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def sample_and_score(
    pipe: StableDiffusionPipeline, attributes: list[shapes.ShapeAttributes], out: Path, steps: int = 25,
    guidance: float = 5.0, seed: int = 0, size: int = 64,
) -> dict[str, float]:
    """Generate one picture per attribute set (its caption as prompt), save a grid (generated over
    reference, 8 per row) to ``out``, and return the colour-check pass rates."""
    prompts = [a.caption for a in attributes]
    generator = torch.Generator().manual_seed(seed)
    images = pipe(prompts, num_inference_steps=steps, guidance_scale=guidance, height=size, width=size,
                  generator=generator, output_type="np").images
    generated = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    checks = [colour_check(g, a) for g, a in zip(generated, attributes)]
    references = [shapes.render(a, size).image for a in attributes]
    rows = []
    for i in range(0, len(prompts), 8):
        gen_row = list(generated[i : i + 8]) + [np.zeros_like(generated[0])] * (8 - len(generated[i : i + 8]))
        ref_row = references[i : i + 8] + [np.zeros_like(references[0])] * (8 - len(references[i : i + 8]))
        rows += [np.concatenate(gen_row, axis=1), np.concatenate(ref_row, axis=1)]
    grid = np.concatenate(rows, axis=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.resize(grid[..., ::-1], None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST))
    for prompt, check in zip(prompts, checks):
        log.info("%-50s shape %.3f background %.3f %s", prompt, check["shape_fraction"],
                 check["background_fraction"], "ok" if check["ok"] else "FAIL")
    return {
        "colour_pass_rate": float(np.mean([c["ok"] for c in checks])),
        "shape_colour_pass_rate": float(np.mean([c["shape_fraction"] >= MIN_SHAPE_FRACTION for c in checks])),
        "background_pass_rate": float(np.mean([c["background_fraction"] >= MIN_BACKGROUND_FRACTION for c in checks])),
    }


def evaluation_attributes(count: int = 16, seed: int = 777) -> list[shapes.ShapeAttributes]:
    """Held-out prompts: the attributes of ``count`` items of a dataset seed never trained on, starting with
    the CLI's first example (a red circle on a blue background)."""
    first = shapes.ShapeAttributes("circle", "red", ("blue",), None, (0.5, 0.5), 0.3, 0.0)
    return [first] + [shapes.sample_at(seed, i).attributes for i in range(count - 1)]
