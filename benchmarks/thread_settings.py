"""ONNX Runtime thread settings for the full-size UNet step, each in a fresh process on the same graph:
intra-op threads (1, the machine's cores, and ONNX Runtime's default), spinning of idle workers on and
off, and the parallel executor with inter-op threads. Reports the best of 3 steps after a warm-up and
the ratio to ONNX Runtime's defaults (what the pipelines use unless given sess_options).

    python benchmarks/thread_settings.py [--unet DIR/unet/model.onnx] [--size 256]

Not part of CI."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from unet_inputs import best_run_seconds, unet_feeds

CACHE = Path.home() / ".cache" / "ortdiffusion-bench"
CORES = os.cpu_count() or 1
# name -> (intra_op_num_threads, inter_op_num_threads, parallel executor, allow spinning)
SETTINGS = {
    "default": (0, 0, False, True),
    "intra 1": (1, 0, False, True),
    f"intra {CORES}": (CORES, 0, False, True),
    f"intra {CORES}, no spinning": (CORES, 0, False, False),
    f"parallel executor, inter {CORES}": (0, CORES, True, True),
}


def measure(unet: Path, size: int, intra: int, inter: int, parallel: bool, spinning: bool) -> dict:
    """Session with these settings; best of 3 steps after a warm-up."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    options.execution_mode = ort.ExecutionMode.ORT_PARALLEL if parallel else ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    session = ort.InferenceSession(str(unet), options, providers=["CPUExecutionProvider"])
    feeds = unet_feeds(size, unet_model=Path(unet))
    return {"step_s": best_run_seconds(lambda: session.run(None, feeds), repeats=3)}


def main() -> int:
    """Run every setting in its own process and print JSON with ratios to the default."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--unet", type=Path, default=CACHE / "sd15-random-onnx-fused" / "unet" / "model.onnx")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        intra, inter, parallel, spinning = (int(v) for v in args.child)
        print(json.dumps(measure(args.unet, args.size, intra, inter, bool(parallel), bool(spinning))))
        return 0
    if not args.unet.is_file():
        raise SystemExit(f"no UNet at {args.unet}; see benchmarks/README.md for building the full-size export")
    results: dict = {}
    for name, setting in SETTINGS.items():
        run = subprocess.run([sys.executable, __file__, "--unet", str(args.unet), "--size", str(args.size),
                              "--child", *(str(int(v)) for v in setting)], check=True, capture_output=True, text=True)
        results[name] = json.loads(run.stdout.strip().splitlines()[-1])
    for row in results.values():
        row["ratio_vs_default"] = row["step_s"] / results["default"]["step_s"]
    print(json.dumps({"size": f"{args.size}x{args.size}", "cores": CORES, "settings": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
