"""What serving costs (issue 17): the same picture (embedded model, 64x64, 20 steps of Euler a, one seed per
request) through ``POST /sdapi/v1/txt2img`` on a live server on 127.0.0.1 and through the Python API, in one
run, alternating; reports the medians, the per-request overhead and the ratio.

    python benchmarks/server_overhead.py [--requests 30] [--json OUT]

Not part of CI (needs the [server] extra and requests)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

BODY = {"prompt": "a red circle on a blue background", "width": 64, "height": 64, "steps": 20,
        "sampler_name": "Euler a", "cfg_scale": 7.0}


def main() -> int:
    """Time both ways; print and optionally save."""
    import requests
    from server_fixture import live_server

    import ortdiffusion as od
    from ortdiffusion.server import ServerSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pipe = od.StableDiffusionPipeline.from_pretrained("default")
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = od.EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    server_times, api_times = [], []
    with live_server(ServerSettings()) as live, requests.Session() as session:
        url = f"{live.url}/sdapi/v1/txt2img"
        for seed in range(3):  # warm up both: sessions, caches
            session.post(url, json={**BODY, "seed": seed}, timeout=60).raise_for_status()
            pipe(BODY["prompt"], num_inference_steps=20, guidance_scale=7.0, generator=seed, height=64, width=64,
                 prompt_syntax="a1111")
        for seed in range(args.requests):
            start = time.perf_counter()
            session.post(url, json={**BODY, "seed": seed}, timeout=60).raise_for_status()
            server_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            image = pipe(BODY["prompt"], num_inference_steps=20, guidance_scale=7.0, generator=seed, height=64, width=64,
                         prompt_syntax="a1111").images[0]
            image.tobytes()
            api_times.append(time.perf_counter() - start)
    server, python_api = statistics.median(server_times), statistics.median(api_times)
    results = {"server_median_s": server, "python_api_median_s": python_api, "overhead_ms": (server - python_api) * 1e3,
               "ratio": server / python_api, "requests": args.requests}
    print(f"server {server * 1e3:.1f} ms, Python API {python_api * 1e3:.1f} ms (medians of {args.requests}): "
          f"{results['overhead_ms']:.1f} ms per request, {results['ratio']:.3f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
