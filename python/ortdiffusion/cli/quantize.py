"""``ortdiffusion quantize``: a lower-precision copy of an exported folder (int8 for CPU, fp16 for GPUs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ortdiffusion.cli.arguments import model_folder


def run(args: argparse.Namespace) -> int:
    """Convert and print what was written, with each part's size before and after."""
    from ortdiffusion.quantization.precision import convert_precision

    report = convert_precision(args.model, args.output, args.precision, parts=args.parts, int8_ops=args.ops,
                               per_channel=args.per_channel, overwrite=args.overwrite,
                               calibration_prompts=args.calibration_prompt, calibration_steps=args.calibration_steps,
                               calibration_size=args.calibration_size)
    if "calibration" in report.seconds:
        print(f"calibration: {report.seconds['calibration']:.1f} s of float32 denoising")
    for part, (before, after) in report.bytes.items():
        print(f"{part}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB ({report.precision}, {report.seconds[part]:.1f} s)")
    print(f"wrote {report.output}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``quantize`` on the command's sub-parsers."""
    from ortdiffusion.quantization.calibration import DEFAULT_STEPS
    from ortdiffusion.quantization.precision import PRECISIONS

    q = sub.add_parser("quantize", help="write an int8 (CPU), fp16 (GPU) or half-size fp16-weights copy of an exported folder")
    q.add_argument("--model", type=model_folder, required=True,
                   help="exported folder (ortdiffusion export / optimum-cli), or 'default' for the embedded model")
    q.add_argument("--output", type=Path, required=True, help="folder to write")
    q.add_argument("--precision", choices=PRECISIONS, default="int8",
                   help="int8: dynamic quantization for CPU (default); int8-static: calibrated UNet (and VAE decoder) quantization, "
                        "the fastest on CPU; fp16: float16 weights for GPU providers; fp16-weights: weights stored in "
                        "float16, computed in float32 (half the disk, the same speed)")
    q.add_argument("--parts", nargs="+",
                   help="models to convert (default: unet text_encoder for int8, unet for int8-static, all for fp16 and "
                        "fp16-weights); int8-static converts unet and vae_decoder: `--parts unet vae_decoder` quantizes the "
                        "decoder too (docs/precision.md)")
    q.add_argument("--ops", nargs="+",
                   help="op types whose weights are quantized (default: MatMul for int8, since ConvInteger is slower "
                        "on CPU; Conv MatMul for int8-static)")
    q.add_argument("--per-channel", action="store_true", help="int8: one scale per output channel")
    q.add_argument("--calibration-prompt", action="append", metavar="PROMPT",
                   help="int8-static: a prompt to calibrate on (repeatable; default: four built-in prompts)")
    q.add_argument("--calibration-steps", type=int, default=DEFAULT_STEPS,
                   help=f"int8-static: denoising steps per calibration prompt (default {DEFAULT_STEPS})")
    q.add_argument("--calibration-size", type=int, metavar="PIXELS",
                   help="int8-static: calibrate on square pictures of this size (default: the model's own)")
    q.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    q.set_defaults(func=run)
