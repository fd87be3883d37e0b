"""How few steps each scheduler needs on the embedded default model (issue 15): for each setting, the
share of pictures whose colours and shape follow the prompt (the semantic scorer the model's tests use)
and the RMS distance of the final latents to a 200-step DDIM picture of the same prompt and seed (0 =
the converged picture; the ancestral and SDE samplers converge to other pictures, so their distance stays
large by design). 16 held-out prompts x 2 seeds per setting, guidance 7.5, 64x64.

    python benchmarks/scheduler_quality.py [--json results/scheduler_quality.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import ortdiffusion as od
from ortdiffusion.models import default_model_path
from ortdiffusion.schedulers.a1111_names import scheduler_from_name
from ortdiffusion.training import shapes
from ortdiffusion.training.scoring import classify_shape, colour_check

SETTINGS = [("DDIM", 20), ("PLMS", 20), ("Euler", 20), ("Euler a", 20), ("DPM++ 2M Karras", 8),
            ("DPM++ 2M Karras", 12), ("DPM++ 2M Karras", 20), ("DPM++ 2M SDE Karras", 12), ("UniPC", 8), ("UniPC", 12), ("DDIM", 8), ("Euler", 8)]
SEEDS = (3, 4)
PAIRS = [("red", "blue"), ("yellow", "purple"), ("white", "green"), ("black", "orange"),
         ("blue", "white"), ("green", "black"), ("orange", "yellow"), ("purple", "red")]


def prompts() -> list[shapes.ShapeAttributes]:
    """16 prompts: every shape with two colour pairs (held out from training in this combination)."""
    return [shapes.ShapeAttributes(shape, colour, (background,), None, (0.5, 0.5), 0.3, 0.0)
            for k, shape in enumerate(shapes.SHAPES)
            for colour, background in (PAIRS[(k + 1) % 8], PAIRS[(k + 5) % 8])][:16]


def run(pipe, scheduler, steps: int, captions: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(latents, uint8 pictures) for the prompts at ``seed``."""
    pipe.scheduler = scheduler
    latents = pipe(captions, num_inference_steps=steps, generator=seed, output_type="latent").images
    images = pipe.decode(latents, "np", True).images
    return latents, (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def main() -> int:
    """Score every setting against the 200-step DDIM reference and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    base_config = pipe.scheduler.config
    attributes = prompts()
    captions = [a.caption for a in attributes]
    reference = {seed: run(pipe, scheduler_from_name("DDIM", base_config), 200, captions, seed)[0] for seed in SEEDS}
    rows = []
    for name, steps in [("DDIM", 200), *SETTINGS]:
        start = time.perf_counter()
        colours = shapes_ok = 0
        distances = []
        for seed in SEEDS:
            latents, images = run(pipe, scheduler_from_name(name, base_config), steps, captions, seed)
            distances.append(float(np.sqrt(np.mean((latents - reference[seed]) ** 2))))
            for image, a in zip(images, attributes):
                colours += bool(colour_check(image, a)["ok"])
                shapes_ok += classify_shape(image, a.colour)[0] == a.shape
        count = len(SEEDS) * len(attributes)
        row = {"scheduler": name, "steps": steps, "colour_rate": colours / count, "shape_rate": shapes_ok / count,
               "latent_rms_to_ddim200": float(np.mean(distances)), "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"{name:20s} {steps:4d} steps  colours {row['colour_rate']:.2f}  shapes {row['shape_rate']:.2f}  "
              f"latent RMS to DDIM-200 {row['latent_rms_to_ddim200']:.3f}  ({row['seconds']:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
