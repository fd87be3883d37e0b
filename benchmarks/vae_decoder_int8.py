"""int8-static on the VAE decoder (issue 21): decode seconds and picture difference against the float32 decoder,
side by side in one run, with the tiny decoder (TAESD) for scale.

    python benchmarks/vae_decoder_int8.py [--sizes 256 512] [--json out.json]

Speed: the full-size SD 1.5 VAE (diffusers' AutoencoderKL with SD 1.5's config, random weights) in a pipeline
folder whose UNet and text encoder are tiny, so that ``ortdiffusion quantize --precision int8-static --parts
vae_decoder`` calibrates it the way a user's folder is calibrated (the decoder's inputs recorded while the
pipeline makes its pictures; 4 built-in prompts at 256 px). Each decoder decodes the same latents (the
pipeline's own, for a prompt and seed calibration did not see) in one process, alternately, best of three; the
SNR of the int8 output against float32's on those latents is all that random weights can say about the picture.

Quality: the embedded model, the semantic tests' 12 prompts x seeds 0-2 at 20 steps, decoded by its float32 and
its int8-static decoder (calibrated on the 4 built-in prompts): the colour and shape pass rates of
training/scoring.py and the PSNR to the float32 picture. Not part of CI."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from full_size_export import SD15_VAE
from time_to_quality import CACHE, random_taesd, with_tiny_decoder

TINY_UNET = {"sample_size": 64, "block_out_channels": (32, 64), "layers_per_block": 1, "cross_attention_dim": 32,
             "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"), "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
             "attention_head_dim": 4}
TINY_TEXT = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "max_position_embeddings": 77, "bos_token_id": 49406, "eos_token_id": 49407,
             "pad_token_id": 49407}
CALIBRATION_SIZE = 256
HELD_OUT_PROMPT = "a green tree by a river"


def full_size_vae_folder(target: Path) -> Path:
    """(once) An exported pipeline folder: SD 1.5's VAE with random weights, a tiny UNet and text encoder."""
    if (target / "model_index.json").is_file():
        return target
    from importlib import resources

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ortdiffusion.exporter import export_pipeline

    torch.manual_seed(0)
    source = target.with_name(target.name + "-diffusers")
    tokenizer = CLIPTokenizer.from_pretrained(Path(str(resources.files("ortdiffusion") / "data" / "clip_tokenizer")))
    StableDiffusionPipeline(
        vae=AutoencoderKL(**SD15_VAE), text_encoder=CLIPTextModel(CLIPTextConfig(**TINY_TEXT)), tokenizer=tokenizer,
        unet=UNet2DConditionModel(**TINY_UNET),
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                                set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(source)
    export_pipeline(source, target, overwrite=True)
    return target


def int8_static_decoder(folder: Path, target: Path) -> tuple[Path, float | None]:
    """(once) ``folder`` with its VAE decoder in int8-static; the conversion's seconds (None when reused)."""
    if (target / "model_index.json").is_file():
        return target, None
    from ortdiffusion.quantization import convert_precision

    report = convert_precision(folder, target, "int8-static", parts=["vae_decoder"], calibration_size=CALIBRATION_SIZE,
                               calibration_steps=4)
    return target, sum(report.seconds.values())


def speed(sizes: list[int]) -> dict:
    import numpy as np

    import ortdiffusion as od

    folder = with_tiny_decoder(full_size_vae_folder(CACHE / "sd15-vae-tiny-unet-onnx"), random_taesd(CACHE / "taesd-random"))
    int8_folder, convert_s = int8_static_decoder(folder, CACHE / "sd15-vae-tiny-unet-onnx-int8-static-decoder")
    pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    fp32 = pipe.components
    int8 = od.StableDiffusionPipeline.from_pretrained(int8_folder).components
    tiny = od.StableDiffusionPipeline.from_pretrained(folder, vae_decoder="tiny").components
    decoders = {"fp32 decoder": fp32.vae_decoder, "int8-static decoder": int8.vae_decoder, "tiny decoder": tiny.vae_decoder}
    result: dict = {"int8_static_conversion_s": convert_s, "calibration_size": CALIBRATION_SIZE}
    for size in sizes:
        # held-out latents of this folder's own pipeline (a prompt and seed calibration did not use): random
        # weights' latents have their own spread (std about 4.5 here, not SD's 1), which calibration saw
        latents = pipe(HELD_OUT_PROMPT, num_inference_steps=4, height=size, width=size, generator=7, output_type="latent").images
        fed = latents / np.float32(fp32.scaling_factor)  # what the KL decoder takes (base.py decode)
        seconds = {name: [] for name in decoders}
        outputs = {}
        # the tiny decoder takes unscaled latents (its scaling factor is 1); the others latents / 0.18215
        inputs = {name: latents if name == "tiny decoder" else fed for name in decoders}
        for name, decoder in decoders.items():  # warm-up
            decoder.run(latent_sample=inputs[name])
        for _ in range(3):
            for name, decoder in decoders.items():
                start = time.perf_counter()
                outputs[name] = decoder.run(latent_sample=inputs[name])[0]
                seconds[name].append(time.perf_counter() - start)
        reference = outputs["fp32 decoder"]
        noise = float(np.mean((outputs["int8-static decoder"] - reference) ** 2))
        rows = {name: {"seconds": min(times)} for name, times in seconds.items()}
        for row in rows.values():
            row["speedup_vs_fp32_decoder"] = rows["fp32 decoder"]["seconds"] / row["seconds"]
        rows["int8-static decoder"]["snr_db_vs_fp32"] = float(10 * np.log10(np.mean(reference**2) / noise))
        result[str(size)] = rows
    return result


def quality() -> dict:
    import tempfile

    from embedded_quality import pictures, scored

    import ortdiffusion as od
    from ortdiffusion.models import default_model_path
    from ortdiffusion.quantization import convert_precision

    reference = pictures(od.StableDiffusionPipeline.from_pretrained(default_model_path()), 20)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "int8-static-decoder"
        convert_precision(default_model_path(), folder, "int8-static", parts=["vae_decoder"])
        int8 = pictures(od.StableDiffusionPipeline.from_pretrained(folder), 20)
    return {"fp32 decoder": scored(reference, reference), "int8-static decoder": scored(int8, reference)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {"speed_full_size_sd15_vae": speed(args.sizes), "quality_embedded_model": quality()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
