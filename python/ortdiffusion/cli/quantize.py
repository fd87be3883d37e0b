"""``ortdiffusion quantize``: a lower-precision copy of an exported folder (int8 for CPU, fp16 for GPUs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Convert and print what was written, with each part's size before and after."""
    from ortdiffusion.precision import convert_precision

    report = convert_precision(args.model, args.output, args.precision, parts=args.parts, int8_ops=args.ops,
                               per_channel=args.per_channel, overwrite=args.overwrite)
    for part, (before, after) in report.bytes.items():
        print(f"{part}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB ({report.precision}, {report.seconds[part]:.1f} s)")
    print(f"wrote {report.output}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``quantize`` on the command's sub-parsers."""
    from ortdiffusion.precision import DEFAULT_INT8_OPS, PRECISIONS

    q = sub.add_parser("quantize", help="write an int8 (CPU) or fp16 (GPU) copy of an exported folder")
    q.add_argument("--model", type=Path, required=True, help="exported folder (ortdiffusion export / optimum-cli)")
    q.add_argument("--output", type=Path, required=True, help="folder to write")
    q.add_argument("--precision", choices=PRECISIONS, default="int8",
                   help="int8: dynamic quantization for CPU (default); fp16: float16 weights for GPU providers")
    q.add_argument("--parts", nargs="+", help="models to convert (default: unet text_encoder for int8, all for fp16)")
    q.add_argument("--ops", nargs="+", default=list(DEFAULT_INT8_OPS),
                   help="op types whose weights int8 quantizes (default MatMul; Conv is slower on CPU as ConvInteger)")
    q.add_argument("--per-channel", action="store_true", help="int8: one scale per output channel")
    q.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    q.set_defaults(func=run)
