"""Time to quality (issue 21), one table from one run: seconds per picture on the full-size SD 1.5 architecture
(random weights) at 256 and 512, and a quality figure on the embedded model, for ortdiffusion float32 at 20
steps (the export's DDIM), DPM++ 2M Karras at 12 and DPM++ 2M at 20, int8-static at 20, DeepCache N = 2 and 3 at
20, an LCM-LoRA at 4 steps (LCMScheduler, guidance 1) alone, with the tiny decoder, and with int8-static and the
tiny decoder; and optimum's ORTStableDiffusionPipeline on the same export with its default scheduler and with
DPM++ 2M at 20.

    python benchmarks/time_to_quality.py prepare               # once: the inputs below
    python benchmarks/time_to_quality.py speed --optimum-python /work/optimum-venv/bin/python --json out.json
    ortdiffusion quantize --model default --output /tmp/d8 --precision int8-static
    ortdiffusion lora merge --lora lcm --output /tmp/dl && ortdiffusion quantize --model /tmp/dl --output /tmp/dl8 --precision int8-static
    python benchmarks/time_to_quality.py quality --int8 /tmp/d8 --lcm-int8 /tmp/dl8 --json out.json

Speed: each configuration is one warm-up call (1 step) and one timed call of the whole pipeline (text encoder,
denoising, decode), guidance 7.5 except the LCM rows (guidance 1, as LCM-LoRA is made for; no unconditional
half). Speed inputs (made once, under ~/.cache/ortdiffusion-bench): the fused float32 export marked for
DeepCache (in place); the int8-static exports calibrated at each size (benchmarks/precision.py);
a random LCM-LoRA on LCM-LoRA's targets at rank 64 (its published rank), merged (merge mode: the LoRA costs
nothing per step); a random-weight TAESD (diffusers' AutoencoderTiny defaults) exported beside each folder.
The LCM + int8-static row runs the int8-static export of the base with the LoRA merged before quantization
(``ortdiffusion lora merge``, then ``quantize``), calibrated the same way.

Quality: the embedded model, the semantic tests' 12 prompts x seeds 0-2: the colour and shape pass rates of
training/scoring.py and the PSNR of each picture to the float32 20-step DDIM picture of the same prompt and seed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "ortdiffusion-bench"
PROMPT = "a red circle on a blue background"
LCM_RANK = 64


# ---------------------------------------------------------------- inputs made once

def marked(folder: Path) -> Path:
    """``folder`` with its UNet graph marked for DeepCache in place (one graph output more; without
    cache_interval the pipelines give the same pictures, and the weights file is untouched)."""
    from ortdiffusion.deep_cache import add_deep_cache

    add_deep_cache(folder / "unet")
    return folder


def random_lcm_lora(folder: Path, target: Path) -> Path:
    """A random LoRA of LCM-LoRA's rank on its target modules of ``folder``'s UNet, in the kohya layout LCM-LoRA
    is published in (factors small enough to leave the model working)."""
    import numpy as np
    from safetensors.numpy import save_file

    from ortdiffusion.training.lcm_lora import TARGET_MODULES

    if target.is_file():
        return target
    weights_map = json.loads((folder / "unet" / "weights_map.json").read_text())["modules"]["unet"]
    suffixes = tuple(f"{t}.weight" for t in TARGET_MODULES)
    rng = np.random.default_rng(0)
    tensors = {}
    for name, entry in weights_map.items():
        if not name.endswith(suffixes) or len(entry["shape"]) not in (2, 4):
            continue
        shape = entry["shape"]
        rank = min(LCM_RANK, shape[0], int(np.prod(shape[1:])))
        key = "lora_unet_" + name[: -len(".weight")].replace(".", "_")
        down_shape = [rank, *shape[1:]]
        up_shape = [shape[0], rank] + ([1, 1] if len(shape) == 4 else [])
        tensors[f"{key}.lora_down.weight"] = (rng.standard_normal(down_shape) / np.sqrt(np.prod(down_shape[1:]))).astype(np.float16)
        tensors[f"{key}.lora_up.weight"] = (rng.standard_normal(up_shape) * 1e-3).astype(np.float16)
        tensors[f"{key}.alpha"] = np.array(rank, dtype=np.float16)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target))
    return target


def random_taesd(target: Path) -> Path:
    """diffusers' AutoencoderTiny with its default (TAESD) architecture and random weights."""
    if not (target / "config.json").is_file():
        from diffusers import AutoencoderTiny

        AutoencoderTiny().save_pretrained(target)
    return target


def with_tiny_decoder(folder: Path, taesd: Path) -> Path:
    from ortdiffusion.exporter.tiny_vae import add_tiny_vae_decoder

    if not (folder / "vae_decoder_tiny" / "model.onnx").is_file():
        add_tiny_vae_decoder(folder, taesd)
    return folder


def lcm_int8_static(base: Path, lora: Path, size: int, target: Path) -> Path:
    """The base export with the LoRA merged in, quantized to int8-static calibrated at ``size``."""
    if (target / "model_index.json").is_file():
        return target
    merged = target.with_name(target.name + "-fp32")
    if not (merged / "model_index.json").is_file():
        subprocess.run([sys.executable, "-m", "ortdiffusion", "lora", "merge", "--model", str(base), "--lora", str(lora),
                        "--output", str(merged)], check=True)
    subprocess.run([sys.executable, "-m", "ortdiffusion", "quantize", "--model", str(merged), "--output", str(target),
                    "--precision", "int8-static", "--calibration-size", str(size)], check=True)
    shutil.rmtree(merged)
    return target


# ---------------------------------------------------------------- speed

def current_rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def ortdiffusion_rows(size: int, paths: dict[str, str]) -> dict[str, dict]:
    """Seconds per picture of every ortdiffusion configuration at ``size`` (one process, pipelines loaded once)."""
    import numpy as np
    import onnx

    import ortdiffusion as od
    from ortdiffusion.deep_cache import shallow_graph

    call = {"prompt": PROMPT, "height": size, "width": size, "output_type": "np"}

    def timed(pipe, steps: int, **kwargs) -> dict:
        pipe.set_progress_bar_config(disable=True)
        pipe(**call, num_inference_steps=1, generator=0, **kwargs)
        start = time.perf_counter()
        pipe(**call, num_inference_steps=steps, generator=0, **kwargs)
        return {"seconds": time.perf_counter() - start, "steps": steps}

    rows = {}
    fp32 = od.StableDiffusionPipeline.from_pretrained(paths["deep"])
    rows["fp32 DDIM 20"] = timed(fp32, 20, guidance_scale=7.5)
    before = current_rss_mb()
    fp32.components.shallow_unet()
    added = current_rss_mb() - before
    graph = shallow_graph(onnx.load(str(Path(paths["deep"]) / "unet" / "model.onnx"), load_external_data=False))
    shallow_weights = sum(int(np.prod(t.dims)) * 4 for t in graph.graph.initializer)  # float32 bytes it reads
    rows["DeepCache shallow session"] = {"rss_added_mb": added, "shallow_weights_mb": shallow_weights / 1e6}
    rows["DeepCache N=2, 20"] = timed(fp32, 20, guidance_scale=7.5, cache_interval=2)
    rows["DeepCache N=3, 20"] = timed(fp32, 20, guidance_scale=7.5, cache_interval=3)
    fp32.scheduler = od.DPMSolverMultistepScheduler.from_config(fp32.scheduler.config, use_karras_sigmas=True)
    rows["DPM++ 2M Karras 12"] = timed(fp32, 12, guidance_scale=7.5)
    fp32.scheduler = od.DPMSolverMultistepScheduler.from_config(fp32.scheduler.config, use_karras_sigmas=False)
    rows["DPM++ 2M 20"] = timed(fp32, 20, guidance_scale=7.5)
    fp32.scheduler = od.LCMScheduler.from_config(fp32.scheduler.config)
    start = time.perf_counter()
    fp32.load_lora_weights(paths["lora"])
    merge_seconds = time.perf_counter() - start
    rows["LCM-LoRA 4"] = {**timed(fp32, 4, guidance_scale=1.0), "lora_merge_once_s": merge_seconds}
    del fp32
    tiny = od.StableDiffusionPipeline.from_pretrained(paths["deep"], vae_decoder="tiny")
    tiny.scheduler = od.LCMScheduler.from_config(tiny.scheduler.config)
    tiny.load_lora_weights(paths["lora"])
    rows["LCM-LoRA 4 + tiny decoder"] = timed(tiny, 4, guidance_scale=1.0)
    del tiny
    int8 = od.StableDiffusionPipeline.from_pretrained(paths["int8"])
    rows["int8-static DDIM 20"] = timed(int8, 20, guidance_scale=7.5)
    del int8
    lcm8 = od.StableDiffusionPipeline.from_pretrained(paths["lcm-int8"], vae_decoder="tiny")
    lcm8.scheduler = od.LCMScheduler.from_config(lcm8.scheduler.config)
    rows["LCM-LoRA 4 + int8-static + tiny decoder"] = timed(lcm8, 4, guidance_scale=1.0)
    return rows


def optimum_rows(size: int, folder: str) -> dict[str, dict]:
    """optimum's pipeline on the same export: its default scheduler (the folder's), then DPM++ 2M, 20 steps each."""
    import torch
    from diffusers import DPMSolverMultistepScheduler
    from optimum.onnxruntime import ORTStableDiffusionPipeline

    pipe = ORTStableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    call = {"prompt": PROMPT, "height": size, "width": size, "output_type": "np", "guidance_scale": 7.5}

    def timed(steps: int) -> dict:
        pipe(**call, num_inference_steps=1, generator=torch.Generator().manual_seed(0))
        start = time.perf_counter()
        pipe(**call, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
        return {"seconds": time.perf_counter() - start, "steps": steps}

    rows = {f"optimum default ({type(pipe.scheduler).__name__}) 20": timed(20)}
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    rows["optimum DPM++ 2M 20"] = timed(20)
    return rows


def _child(python: str, *args: str) -> dict:
    out = subprocess.run([python, __file__, "child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(sizes: list[int]) -> dict[int, dict[str, str]]:
    """Make (once) every input the speed rows need; returns their paths per size."""
    fused = CACHE / "sd15-random-onnx-fused"
    deep = marked(fused)
    taesd = random_taesd(CACHE / "taesd-random")
    with_tiny_decoder(deep, taesd)
    lora = random_lcm_lora(fused, CACHE / "lcm-lora-random" / "lcm-lora-sdv1-5.safetensors")
    paths = {}
    for size in sizes:
        int8 = CACHE / f"sd15-random-onnx-fused-int8-static-Conv-MatMul-wint8-auint8-reduced-{size}"
        lcm8 = with_tiny_decoder(lcm_int8_static(fused, lora, size, CACHE / f"sd15-random-lcm-int8-static-{size}"), taesd)
        paths[size] = {"deep": str(deep), "int8": str(int8), "lora": str(lora), "lcm-int8": str(lcm8)}
    return paths


def speed(args: argparse.Namespace) -> dict:
    result: dict = {}
    for size, paths in prepare(args.sizes).items():
        rows = _child(sys.executable, "ortdiffusion", str(size), json.dumps(paths))
        if args.optimum_python:
            rows.update(_child(str(args.optimum_python), "optimum", str(size), str(CACHE / "sd15-random-onnx")))
        base = rows["fp32 DDIM 20"]["seconds"]
        dpm20 = rows["DPM++ 2M 20"]["seconds"]
        optimum20 = next((r["seconds"] for name, r in rows.items() if name.startswith("optimum default")), None)
        for row in rows.values():
            if "seconds" not in row:  # a memory row
                continue
            row["speedup_vs_fp32_20"] = base / row["seconds"]
            row["speedup_vs_dpm2m_20"] = dpm20 / row["seconds"]
            if optimum20:
                row["speedup_vs_optimum_20"] = optimum20 / row["seconds"]
        result[str(size)] = rows
    return result


# ---------------------------------------------------------------- quality

def quality(args: argparse.Namespace) -> dict:
    """Colour and shape rates and PSNR to the float32 20-step picture, on the embedded model."""
    from embedded_quality import pictures, scored

    import ortdiffusion as od
    from ortdiffusion.models import default_lora_path, default_model_path

    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    reference = pictures(pipe, 20, 7.5)
    rows = {"fp32 DDIM 20": scored(reference, reference)}
    rows["DeepCache N=2, 20"] = scored(pictures(pipe, 20, 7.5, cache_interval=2), reference)
    rows["DeepCache N=3, 20"] = scored(pictures(pipe, 20, 7.5, cache_interval=3), reference)
    pipe.scheduler = od.DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, use_karras_sigmas=True)
    rows["DPM++ 2M Karras 12"] = scored(pictures(pipe, 12, 7.5), reference)
    pipe.scheduler = od.DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, use_karras_sigmas=False)
    rows["DPM++ 2M 20"] = scored(pictures(pipe, 20, 7.5), reference)
    pipe.scheduler = od.LCMScheduler.from_config(pipe.scheduler.config)
    pipe.load_lora_weights(default_lora_path("lcm"))
    rows["LCM-LoRA 4"] = scored(pictures(pipe, 4, 1.0), reference)
    tiny = od.StableDiffusionPipeline.from_pretrained(default_model_path(), vae_decoder="tiny")
    tiny.scheduler = od.LCMScheduler.from_config(tiny.scheduler.config)
    tiny.load_lora_weights(default_lora_path("lcm"))
    rows["LCM-LoRA 4 + tiny decoder"] = scored(pictures(tiny, 4, 1.0), reference)
    if args.int8:
        int8 = od.StableDiffusionPipeline.from_pretrained(args.int8)
        rows["int8-static DDIM 20"] = scored(pictures(int8, 20, 7.5), reference)
    if args.lcm_int8:
        lcm8 = od.StableDiffusionPipeline.from_pretrained(args.lcm_int8, vae_decoder="tiny")
        lcm8.scheduler = od.LCMScheduler.from_config(lcm8.scheduler.config)
        rows["LCM-LoRA 4 + int8-static + tiny decoder"] = scored(pictures(lcm8, 4, 1.0), reference)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    s.add_argument("--optimum-python", type=Path, help="python of a virtualenv with optimum-onnx")
    s.add_argument("--json", type=Path)
    p = sub.add_parser("prepare", help="make the speed rows' inputs only")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    q = sub.add_parser("quality")
    q.add_argument("--int8", type=Path, help="the embedded model converted with quantize --precision int8-static")
    q.add_argument("--lcm-int8", type=Path, help="the embedded model with `lora merge --lora lcm`, then int8-static")
    q.add_argument("--json", type=Path)
    c = sub.add_parser("child")
    c.add_argument("kind")
    c.add_argument("size", type=int)
    c.add_argument("arg")
    args = parser.parse_args()
    if args.command == "child":
        rows = ortdiffusion_rows(args.size, json.loads(args.arg)) if args.kind == "ortdiffusion" else optimum_rows(args.size, args.arg)
        print(json.dumps(rows))
        return 0
    if args.command == "prepare":
        print(json.dumps(prepare(args.sizes), indent=2))
        return 0
    result = speed(args) if args.command == "speed" else quality(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
