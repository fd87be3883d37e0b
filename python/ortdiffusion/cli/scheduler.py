"""``ortdiffusion scheduler``: run the native DDIM scheduler on seeded latents and print its schedule."""

from __future__ import annotations

import argparse
from pathlib import Path

# Stable Diffusion 1.x's scheduler config (the stock scheduler_config.json, written for PNDM).
SD15_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
}


def run(args: argparse.Namespace) -> int:
    """Print the DDIM schedule and a denoising trace for a zero-noise stand-in model."""
    import numpy as np

    from ortdiffusion import DDIMScheduler, Generator

    if args.config:
        scheduler = DDIMScheduler.from_pretrained(args.config)
    else:
        scheduler = DDIMScheduler.from_config(SD15_SCHEDULER_CONFIG)
    if args.spacing:
        scheduler = DDIMScheduler.from_config(scheduler.config, timestep_spacing=args.spacing)
    scheduler.set_timesteps(args.steps)
    generator = Generator(args.seed)
    latents = generator.randn((1, 4, args.height // 8, args.width // 8)) * scheduler.init_noise_sigma
    print(f"DDIM, {args.steps} steps, spacing={scheduler.config.timestep_spacing}, seed={args.seed}")
    print("timesteps:", " ".join(str(int(t)) for t in scheduler.timesteps))
    # A denoising trace with a stand-in model that predicts the noise as zero: shows the x_t -> x_0 path.
    sample = latents
    for t in scheduler.timesteps:
        sample = scheduler.step(np.zeros_like(sample), int(t), sample, eta=args.eta, generator=generator).prev_sample
    print(f"initial latents: mean={latents.mean():+.6f} std={latents.std():.6f} (torch-identical for this seed)")
    print(f"after {args.steps} steps with a zero-noise model: std={sample.std():.6f}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``scheduler`` on the command's sub-parsers."""
    sched = sub.add_parser("scheduler", help="run the native DDIM scheduler on seeded latents and print its schedule")
    sched.add_argument("--config", type=Path, help="scheduler_config.json or a folder holding one (default: SD 1.5)")
    sched.add_argument("--steps", type=int, default=20, help="number of inference steps (default 20)")
    sched.add_argument("--spacing", choices=["leading", "trailing", "linspace"], help="override timestep_spacing")
    sched.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0 = deterministic)")
    sched.add_argument("--seed", type=int, default=0, help="seed for the torch-compatible generator")
    sched.add_argument("--height", type=int, default=512)
    sched.add_argument("--width", type=int, default=512)
    sched.set_defaults(func=run)
