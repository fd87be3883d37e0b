"""``ortdiffusion batch``: a prompt file to one PNG per row and a manifest, here or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Run the batch and print what it made; exit status 1 when rows failed (they are in the manifest)."""
    from ortdiffusion.batch import BatchFailed, batch
    from ortdiffusion.models import DEFAULT_MODEL_NOTE

    if args.model is None and not args.quiet:
        print(DEFAULT_MODEL_NOTE)
    try:
        report = batch(
            args.prompts, args.out, model=args.model, scheduler=args.scheduler, steps=args.steps,
            guidance=args.guidance, width=args.width, height=args.height, negative_prompt=args.negative_prompt,
            seed=args.seed, threads=args.threads, use_ray=args.ray is not None, ray_address=args.ray or None,
            workers=args.workers, fail_fast=args.fail_fast, provider=args.provider,
            graph_cache=not args.no_graph_cache, progress=not args.quiet,
        )
    except BatchFailed as e:
        print(f"ortdiffusion: error: {e}; manifest: {e.report.manifest}", file=sys.stderr)
        return 1
    print(f"made {report.made} pictures, skipped {report.skipped} complete, {len(report.failed)} failed "
          f"of {report.rows} rows in {report.seconds:.1f} s; manifest: {report.manifest}")
    if report.failed and args.quiet:  # (without --quiet each was shown above the progress line)
        for row_id, error in report.failed:
            print(f"row {row_id}: {error}", file=sys.stderr)
    if report.failed:
        print(f"failed rows: {', '.join(row_id for row_id, _ in report.failed)} (see {report.manifest})",
              file=sys.stderr)
    return 1 if report.failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``batch`` on the command's sub-parsers."""
    p = sub.add_parser("batch", help="one picture per row of a prompt file (.jsonl/.csv/.parquet), here or on Ray")
    p.add_argument("prompts", type=Path, help="prompt file: a 'prompt' column, optional id, negative_prompt, seed, "
                   "steps, guidance, width, height, scheduler, loras, image, mask, control_image, strength per row")
    p.add_argument("--out", type=Path, required=True, help="output folder: <id>.png per row and manifest.jsonl")
    p.add_argument("--model", help="exported folder (default: the embedded tiny model and its variants)")
    p.add_argument("--scheduler", metavar="NAME", help="default sampler (a diffusers class or AUTOMATIC1111 name)")
    p.add_argument("--steps", type=int, default=20, help="default denoising steps (default 20)")
    p.add_argument("--guidance", type=float, default=7.5, help="default guidance scale (default 7.5)")
    p.add_argument("--width", type=int, help="default width")
    p.add_argument("--height", type=int, help="default height")
    p.add_argument("--negative-prompt", help="default negative prompt")
    p.add_argument("--seed", type=int, default=0,
                   help="batch seed: a row without a seed gets one derived from this and its id (default 0)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray (the [ray] extra): the cluster at ADDRESS, or without one the cluster this "
                   "machine belongs to ($RAY_ADDRESS) or a new local one")
    p.add_argument("--workers", type=int, help="Ray actors (default: the cluster's CPUs / --threads)")
    p.add_argument("--threads", type=int,
                   help="ONNX Runtime threads per worker; each Ray actor asks for this many CPUs (default: ONNX "
                   "Runtime's own here, 1 on Ray)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed row (default: report and go on)")
    p.add_argument("--provider", default="cpu", help="ONNX Runtime provider (default cpu)")
    p.add_argument("--no-graph-cache", action="store_true", help="do not keep ONNX Runtime's optimized graphs")
    p.add_argument("--quiet", action="store_true", help="no progress line and no note about the embedded model")
    p.set_defaults(func=run)
