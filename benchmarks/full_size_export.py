"""Full-size Stable Diffusion 1.5 architecture (random weights, built locally): export time, peak memory
and one UNet step on ONNX Runtime vs diffusers (torch), each in its own subprocess so peak RSS is per task.

    python benchmarks/full_size_export.py [--cache ~/.cache/ortdiffusion-bench] [--size 256] [--reuse-export]

Needs the test (or export) extra. The diffusers folder (about 4 GB) and the export are built once into
the cache folder, outside the repository. Not part of CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from unet_inputs import best_run_seconds, peak_rss_gb, unet_feeds

SD15_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2, "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768, "attention_head_dim": 8,
}
SD15_VAE = {
    "block_out_channels": (128, 256, 512, 512), "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4, "sample_size": 512,
}
SD15_TEXT = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                 "num_attention_heads": 12, "max_position_embeddings": 77, "bos_token_id": 49406, "eos_token_id": 49407,
                 "pad_token_id": 49407, "hidden_act": "quick_gelu"}


def build(folder: Path) -> dict:
    from importlib import resources

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    start = time.perf_counter()
    tokenizer_folder = Path(str(resources.files("ortdiffusion") / "data" / "clip_tokenizer"))
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**SD15_VAE), text_encoder=CLIPTextModel(CLIPTextConfig(**SD15_TEXT)),
        tokenizer=CLIPTokenizer.from_pretrained(tokenizer_folder), unet=UNet2DConditionModel(**SD15_UNET),
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return {"build_s": time.perf_counter() - start, "peak_rss_gb": peak_rss_gb()}


def export(source: Path, target: Path) -> dict:
    from ortdiffusion.exporter import export_pipeline

    start = time.perf_counter()
    report = export_pipeline(source, target, overwrite=True)
    return {"export_s": time.perf_counter() - start, "parts_s": report.seconds, "peak_rss_gb": peak_rss_gb()}


def ort_step(target: Path, size: int) -> dict:
    import onnxruntime as ort

    start = time.perf_counter()
    session = ort.InferenceSession(str(target / "unet" / "model.onnx"), providers=["CPUExecutionProvider"])
    created = time.perf_counter() - start
    feeds = unet_feeds(size, unet_model=target / "unet" / "model.onnx")
    step = best_run_seconds(lambda: session.run(None, feeds), repeats=2)
    return {"session_s": created, "step_s": step, "peak_rss_gb": peak_rss_gb()}


def torch_step(source: Path, size: int) -> dict:
    import torch
    from diffusers import UNet2DConditionModel

    start = time.perf_counter()
    unet = UNet2DConditionModel.from_pretrained(source / "unet").eval()
    loaded = time.perf_counter() - start
    inputs = [torch.from_numpy(a) for a in unet_feeds(size).values()]  # sample, timestep, encoder_hidden_states
    with torch.no_grad():
        step = best_run_seconds(lambda: unet(*inputs), repeats=2)
    return {"load_s": loaded, "step_s": step, "peak_rss_gb": peak_rss_gb()}


TASKS = {"build": build, "export": export, "ort_step": ort_step, "torch_step": torch_step}


def _child(task: str, *args: object) -> dict:
    """Run TASKS[task](*args) in a fresh interpreter (so its peak RSS is its own); returns its JSON result."""
    spec = json.dumps([task, [str(a) if isinstance(a, Path) else a for a in args]])
    out = subprocess.run([sys.executable, __file__, "--child", spec], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run each stage in a subprocess and print a JSON summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reuse-export", action="store_true", help="skip the export if the cache holds one")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, task_args = json.loads(args.child)
        task_args = [Path(a) if isinstance(a, str) else a for a in task_args]
        print(json.dumps(TASKS[task](*task_args)))
        return 0
    source, target = args.cache / "sd15-random-diffusers", args.cache / "sd15-random-onnx"
    summary = {}
    if not (source / "model_index.json").is_file():
        summary["build"] = _child("build", source)
    if not (args.reuse_export and (target / "model_index.json").is_file()):
        summary["export"] = _child("export", source, target)
    summary["ort_step"] = _child("ort_step", target, args.size)
    summary["torch_step"] = _child("torch_step", source, args.size)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
