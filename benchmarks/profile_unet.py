"""Where a UNet step's time goes, per ONNX operator type (ONNX Runtime's own profiler), for the
full-size SD 1.5 architecture export.

    python benchmarks/full_size_export.py --size 256      # once: builds and exports into the cache
    python benchmarks/profile_unet.py [--model DIR] [--size 256]

Runs one warm-up and two profiled steps at batch 2 and prints the share of kernel time per op type. Not
part of CI."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from unet_inputs import unet_feeds


def profile(unet: Path, size: int) -> dict[str, float]:
    """Kernel microseconds per op type over two profiled runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "ortdiffusion_unet_profile")  # not into the cwd
    session = ort.InferenceSession(str(unet), options, providers=["CPUExecutionProvider"])
    width = next(i.shape[2] for i in session.get_inputs() if i.name == "encoder_hidden_states")
    feeds = unet_feeds(size, width, unet_model=Path(unet))
    for _ in range(3):
        session.run(None, feeds)
    trace = Path(session.end_profiling())
    totals: dict[str, float] = defaultdict(float)
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    trace.unlink()
    return dict(totals)


def main() -> int:
    """Print op-type shares, largest first."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench" / "sd15-random-onnx-fused")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    totals = profile(args.model / "unet" / "model.onnx", args.size)
    whole = sum(totals.values())
    print(f"kernel time over 3 runs: {whole / 1e6:.2f} s")
    for op, micros in sorted(totals.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{op:28s} {micros / 1e6:7.2f} s  {100 * micros / whole:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
