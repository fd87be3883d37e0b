"""UNet session creation on the full-size SD 1.5 architecture: without the optimized-graph cache, the
first load with it (ONNX Runtime optimizes and saves), and later loads (the saved graph, optimization
off); each in a fresh process, with peak resident memory and one 256x256 step to show the outputs agree.

    python benchmarks/full_size_export.py --size 256     # once: builds and exports into the cache
    python benchmarks/session_creation.py

Not part of CI."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unet_inputs import peak_rss_gb, unet_feeds


def measure(unet: Path, cache: str) -> dict:
    """Create the session (cache "" = off), then run one step; seconds, peak RSS, output checksum."""
    import numpy as np

    from ortdiffusion.sessions import create_session

    start = time.perf_counter()
    session = create_session(unet, cache_dir=cache or None)
    created = time.perf_counter() - start
    feeds = unet_feeds(256)
    start = time.perf_counter()
    out = session.run(None, feeds)[0]
    return {"session_s": created, "cache": getattr(session, "_ortdiffusion_cache", "off"),
            "step_s": time.perf_counter() - start, "peak_rss_gb": peak_rss_gb(),
            "output_sum": float(np.float64(out.sum())), "output_abs_max": float(np.abs(out).max())}


def main() -> int:
    """Run the cases in subprocesses and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1])))
        return 0
    unet = args.cache / "sd15-random-onnx" / "unet" / "model.onnx"
    if not unet.is_file():
        raise SystemExit("run benchmarks/full_size_export.py first (it builds the cached model)")
    graphs = Path(tempfile.mkdtemp(prefix="ortdiffusion-graph-cache-"))
    results = {}
    try:
        for label, cache in (("no cache", ""), ("first load (stores)", str(graphs)), ("second load", str(graphs)),
                             ("third load", str(graphs))):
            out = subprocess.run([sys.executable, __file__, "--child", str(unet), cache], check=True,
                                 capture_output=True, text=True)
            results[label] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(graphs, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
