"""Whole text-to-image on the full-size SD 1.5 architecture (random weights), 256x256, 20 DDIM steps,
guidance 7.5: ortdiffusion vs optimum's ORTStableDiffusionPipeline vs diffusers, each in a fresh process,
in one run, with ratios. Per pipeline: load time (ortdiffusion: cold = empty optimized-graph cache, then
warm = a second process reading it), the 20-step call after a 1-step warm-up, and peak resident memory.

    python benchmarks/full_size_export.py --size 256        # once: diffusers folder + plain ONNX export
    ortdiffusion export --model ~/.cache/ortdiffusion-bench/sd15-random-diffusers \\
        --output ~/.cache/ortdiffusion-bench/sd15-random-onnx-fused     # ortdiffusion's default (fused)
    python benchmarks/text2img_full_size.py --optimum-python /path/to/optimum-venv/bin/python

optimum runs on the plain-attention export (sd15-random-onnx, optimum's layout: what optimum users have,
since onnxruntime's own fusion crashes on it); ortdiffusion on its fused export. Not part of CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unet_inputs import peak_rss_gb

CACHE = Path.home() / ".cache" / "ortdiffusion-bench"
CALL = {"prompt": "a red circle on a blue background", "guidance_scale": 7.5, "height": 256, "width": 256}
STEPS = 20


def _timed_call(run) -> dict:
    """Warm up with 1 step, then time the 20-step call."""
    run(1)
    start = time.perf_counter()
    run(STEPS)
    return {"text2img_s": time.perf_counter() - start}


def measure_ortdiffusion(folder: Path, cache: Path) -> dict:
    import ortdiffusion as od

    start = time.perf_counter()
    pipe = od.StableDiffusionPipeline.from_pretrained(folder, graph_cache=cache)
    load = time.perf_counter() - start
    pipe.set_progress_bar_config(disable=True)
    result = _timed_call(lambda n: pipe(**CALL, num_inference_steps=n, generator=0, output_type="np"))
    return {"load_s": load, **result, "peak_rss_gb": peak_rss_gb()}


def measure_optimum(folder: Path) -> dict:
    import torch
    from optimum.onnxruntime import ORTStableDiffusionPipeline

    start = time.perf_counter()
    pipe = ORTStableDiffusionPipeline.from_pretrained(folder)
    load = time.perf_counter() - start
    pipe.set_progress_bar_config(disable=True)
    result = _timed_call(lambda n: pipe(**CALL, num_inference_steps=n, generator=torch.Generator().manual_seed(0),
                                        output_type="np"))
    return {"load_s": load, **result, "peak_rss_gb": peak_rss_gb()}


def measure_diffusers(folder: Path) -> dict:
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    torch.set_num_threads(2)
    start = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    load = time.perf_counter() - start
    pipe.set_progress_bar_config(disable=True)

    def run(n: int) -> None:
        with torch.no_grad():
            pipe(**CALL, num_inference_steps=n, generator=torch.Generator().manual_seed(0), output_type="np")

    return {"load_s": load, **_timed_call(run), "peak_rss_gb": peak_rss_gb()}


def complete_folder(unet_only: Path, full: Path) -> None:
    """Make an export holding only unet/ (the fused one) a whole pipeline folder: its model_index.json takes
    the other parts from ``full`` (ortdiffusion's ``_ortdiffusion_parts_from``), and the UNet config is
    copied so the pipeline knows the sample size."""
    import shutil

    from ortdiffusion.model_folder import SHARED_PARTS_KEY

    if not (unet_only / "unet" / "config.json").is_file():
        shutil.copyfile(full / "unet" / "config.json", unet_only / "unet" / "config.json")
    index_path = unet_only / "model_index.json"
    if not index_path.is_file():
        index = json.loads((full / "model_index.json").read_text())
        index[SHARED_PARTS_KEY] = str(Path("..") / full.name) if full.parent == unet_only.parent else str(full.resolve())
        index_path.write_text(json.dumps(index, indent=2) + "\n")


def _child(python: str, *args: str) -> dict:
    out = subprocess.run([python, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run each pipeline in its own process and print JSON with ratios to ortdiffusion (warm)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--ortdiffusion", type=Path, default=CACHE / "sd15-random-onnx-fused")
    parser.add_argument("--optimum", type=Path, default=CACHE / "sd15-random-onnx")
    parser.add_argument("--diffusers", type=Path, default=CACHE / "sd15-random-diffusers")
    parser.add_argument("--optimum-python", type=Path, help="python of a virtualenv with optimum-onnx")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, *rest = args.child
        measure = {"ortdiffusion": lambda: measure_ortdiffusion(Path(folder), Path(rest[0])),
                   "optimum": lambda: measure_optimum(Path(folder)), "diffusers": lambda: measure_diffusers(Path(folder))}
        print(json.dumps(measure[kind]()))
        return 0
    complete_folder(args.ortdiffusion, args.optimum)
    summary = {}
    with tempfile.TemporaryDirectory() as cache:
        summary["ortdiffusion_cold"] = _child(sys.executable, "ortdiffusion", str(args.ortdiffusion), cache)
        summary["ortdiffusion"] = _child(sys.executable, "ortdiffusion", str(args.ortdiffusion), cache)
    if args.optimum_python:
        summary["optimum"] = _child(str(args.optimum_python), "optimum", str(args.optimum))
    summary["diffusers"] = _child(sys.executable, "diffusers", str(args.diffusers))
    ours = summary["ortdiffusion"]
    summary["ratios_to_ortdiffusion"] = {
        name: {key: row[key] / ours[key] for key in ("load_s", "text2img_s", "peak_rss_gb")}
        for name, row in summary.items() if name not in ("ortdiffusion", "ortdiffusion_cold")
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
