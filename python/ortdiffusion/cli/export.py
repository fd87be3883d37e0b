"""``ortdiffusion export``: a diffusers folder or a single-file checkpoint to ONNX (imports torch, only here)."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Export and print what was written and how long each part took."""
    from ortdiffusion.exporter import export_pipeline

    report = export_pipeline(args.model, args.output, controlnets=args.controlnet or [], overwrite=args.overwrite,
                             lora_rank=args.lora_rank, attention=args.attention, config=args.config, vae=args.vae,
                             extract_ema=args.extract_ema, deep_cache=args.deep_cache, tiny_vae=args.tiny_vae)
    for name, seconds in report.seconds.items():
        print(f"exported {name} in {seconds:.1f} s")
    print(f"wrote {report.output}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export`` on the command's sub-parsers."""
    exp = sub.add_parser("export", help="export a diffusers Stable Diffusion folder to ONNX (needs the [export] extra)")
    exp.add_argument("--model", type=Path, required=True,
                     help="local diffusers folder (model_index.json, unet/, vae/...) or a single-file SD 1.x checkpoint "
                     "(.safetensors in the original LDM layout)")
    exp.add_argument("--config", type=Path,
                     help="single files: a diffusers folder whose unet/, vae/, text_encoder/ configs replace those derived "
                     "from the tensor shapes (SD 1.5's values fill what shapes do not tell)")
    exp.add_argument("--extract-ema", action="store_true",
                     help="single files holding weights and their EMA: export the EMA weights (default: the non-EMA ones, "
                     "as diffusers)")
    exp.add_argument("--output", type=Path, required=True, help="folder to write (optimum's layout)")
    exp.add_argument("--vae", type=Path, metavar="FILE",
                     help="bake this SD 1.x VAE in (.safetensors in diffusers' or the LDM layout) instead of the model's own")
    exp.add_argument("--controlnet", type=Path, action="append",
                     help="ControlNet to fuse: a diffusers folder or a single .safetensors file in the original layout "
                     "(control_model.*) (repeatable)")
    exp.add_argument("--lora-rank", type=int, default=0,
                     help="add zero LoRA slots of this total rank to the UNet's attention/feed-forward layers (swap mode)")
    exp.add_argument("--attention", choices=["fused", "plain"], default="fused",
                     help="UNet attention as ONNX Runtime's MultiHeadAttention op (fused, default) or MatMul/Softmax (plain)")
    exp.add_argument("--deep-cache", action="store_true",
                     help="give the UNet graph DeepCache's deep_features output (generate --deep-cache N needs it)")
    exp.add_argument("--tiny-vae", type=Path, metavar="DIR",
                     help="a diffusers AutoencoderTiny folder (TAESD) whose decoder is exported as vae_decoder_tiny/ "
                          "(generate --vae-decoder tiny)")
    exp.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    exp.set_defaults(func=run)
