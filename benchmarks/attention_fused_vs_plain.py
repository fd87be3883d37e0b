"""Fused attention (com.microsoft.MultiHeadAttention, the default export) against the plain MatMul/Softmax
graph on the full-size SD 1.5 architecture UNet: step time, peak resident memory and the difference of
the outputs, at 256 and 512, each in a fresh process, both in one run, with ratios.

    python benchmarks/full_size_export.py --size 256          # once: the random-weight diffusers folder
    ortdiffusion export --model ~/.cache/ortdiffusion-bench/sd15-random-diffusers \\
        --output ~/.cache/ortdiffusion-bench/sd15-random-onnx-plain --attention plain
    ortdiffusion export --model ~/.cache/ortdiffusion-bench/sd15-random-diffusers \\
        --output ~/.cache/ortdiffusion-bench/sd15-random-onnx-fused
    python benchmarks/attention_fused_vs_plain.py [--plain DIR] [--fused DIR]

Not part of CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from unet_inputs import best_run_seconds, peak_rss_gb, unet_feeds

CACHE = Path.home() / ".cache" / "ortdiffusion-bench"


def measure(unet: Path, size: int, output: Path) -> dict:
    """Session, best of 2 steps after a warm-up, peak RSS; the output is saved for the comparison."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(unet), providers=["CPUExecutionProvider"])
    feeds = unet_feeds(size, unet_model=unet)
    np.save(output, session.run(None, feeds)[0])
    step = best_run_seconds(lambda: session.run(None, feeds), repeats=2)
    return {"step_s": step, "peak_rss_gb": peak_rss_gb()}


def main() -> int:
    """Run both graphs at both sizes in subprocesses and print JSON with ratios (fused / plain)."""
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("--plain", type=Path, default=CACHE / "sd15-random-onnx-plain")
    parser.add_argument("--fused", type=Path, default=CACHE / "sd15-random-onnx-fused")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), int(args.child[1]), Path(args.child[2]))))
        return 0
    for folder in (args.plain, args.fused):
        if not (folder / "unet" / "model.onnx").is_file():
            raise SystemExit(f"{folder} has no unet/model.onnx; see this script's docstring for the export commands")
    summary = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            row = {}
            for kind, folder in (("plain", args.plain), ("fused", args.fused)):
                output = Path(scratch) / f"{kind}-{size}.npy"
                run = subprocess.run([sys.executable, __file__, "--child", str(folder / "unet" / "model.onnx"), str(size),
                                      str(output)], check=True, capture_output=True, text=True)
                row[kind] = json.loads(run.stdout.strip().splitlines()[-1])
            plain, fused = (np.load(Path(scratch) / f"{k}-{size}.npy") for k in ("plain", "fused"))
            row["step_ratio_fused_over_plain"] = row["fused"]["step_s"] / row["plain"]["step_s"]
            row["peak_ratio_fused_over_plain"] = row["fused"]["peak_rss_gb"] / row["plain"]["peak_rss_gb"]
            row["max_abs_difference_over_max"] = float(np.abs(fused - plain).max() / np.abs(plain).max())
            summary[f"{size}x{size}"] = row
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
