"""Each native scheduler's ``step`` against diffusers' class of the same name, side by side in one run, at
1x4x64x64 float32 (SD 1.5 at 512x512). A whole loop of 20 steps is timed (multistep schedulers keep state
between steps), ``scale_model_input`` included where the scheduler has one; the best of 5 loops, per call of
``step`` (Heun and KDPM2 make two calls per step).
Goal (issue 15): >= 10x faster than diffusers for each.

    python benchmarks/scheduler_steps.py [--json results/scheduler_steps.json]
"""

from __future__ import annotations

import argparse
import json
import time
import timeit
from pathlib import Path

import numpy as np
import torch

import ortdiffusion as od

SD15 = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1}
CASES = {
    "DDIMScheduler": {"clip_sample": False, "set_alpha_to_one": False},
    "PNDMScheduler": {"skip_prk_steps": True},
    "EulerDiscreteScheduler": {},
    "EulerDiscreteScheduler (Karras)": {"use_karras_sigmas": True},
    "EulerAncestralDiscreteScheduler": {},
    "DPMSolverMultistepScheduler (DPM++ 2M Karras)": {"use_karras_sigmas": True},
    "DPMSolverMultistepScheduler (DPM++ 2M SDE Karras)": {"use_karras_sigmas": True, "algorithm_type": "sde-dpmsolver++"},
    "UniPCMultistepScheduler": {},
    "DPMSolverSinglestepScheduler (DPM++ SDE Karras)": {"use_karras_sigmas": True},
    "HeunDiscreteScheduler": {},
    "KDPM2DiscreteScheduler": {},
    "KDPM2AncestralDiscreteScheduler": {},
    "LMSDiscreteScheduler": {},
    "LCMScheduler": {},
    "TCDScheduler": {},
    "DDPMScheduler": {},
}
SHAPE = (1, 4, 64, 64)
STEPS = 20


def loop_seconds(scheduler, model_output, sample, generator_factory) -> float:
    """Best of 5 whole loops, seconds per step."""
    best = float("inf")
    for _ in range(6):  # the first loop warms up
        scheduler.set_timesteps(STEPS)
        x = sample
        kwargs = {"generator": generator_factory()} if generator_factory else {}
        start = time.perf_counter()
        for t in scheduler.timesteps:
            scheduler.scale_model_input(x, t)
            x = scheduler.step(model_output, t, x, **kwargs).prev_sample
        best = min(best, (time.perf_counter() - start) / len(scheduler.timesteps))
    return best


def floors(sample: np.ndarray) -> dict[str, float]:
    """What no step of this size can go below on this machine, in microseconds: one array pass (a float32
    multiplication into a fresh array, the cheapest pass that writes an output as diffusers' API requires)
    and one draw of the step's noise with our Generator (what the stochastic schedulers draw per step)."""
    def best(fn, number: int = 2000) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6

    g = od.Generator(3)
    scale = np.float32(0.5)
    return {"array_pass_us": best(lambda: sample * scale), "randn_us": best(lambda: g.randn(sample.shape))}


def main() -> int:
    """Time every case with both implementations and print the ratios."""
    import diffusers

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = od.Generator(0)
    sample, model_output = g.randn(SHAPE), g.randn(SHAPE) * np.float32(0.1)
    results = {}
    for label, extra in CASES.items():
        class_name = label.split(" ")[0]
        config = {**SD15, **extra}
        ancestral = any(k in class_name for k in ("Ancestral", "LCM", "TCD", "DDPM")) or "SDE" in label
        ours = getattr(od, class_name).from_config(config)  # from a folder config: other classes' keys ignored
        ref = getattr(diffusers, class_name).from_config(config)
        ours_s = loop_seconds(ours, model_output, sample, (lambda: od.Generator(1)) if ancestral else None)
        ref_s = loop_seconds(ref, torch.from_numpy(model_output), torch.from_numpy(sample),
                             (lambda: torch.Generator().manual_seed(1)) if ancestral else None)
        results[label] = {"ortdiffusion_us": ours_s * 1e6, "diffusers_us": ref_s * 1e6, "speedup": ref_s / ours_s}
        print(f"{label:34s} ortdiffusion {ours_s * 1e6:7.1f} us   diffusers {ref_s * 1e6:7.1f} us   "
              f"{ref_s / ours_s:5.1f}x")
    results["floors"] = floors(sample)
    print(f"floors: one array pass {results['floors']['array_pass_us']:.1f} us, "
          f"noise for one step {results['floors']['randn_us']:.1f} us")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
