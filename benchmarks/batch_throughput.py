"""Issue 20: rows per second of ``ortdiffusion batch`` on the embedded model, in this process and on Ray with 1 and
2 actors (a local one-node Ray instance with this machine's CPUs), same rows, same run; the per-row overhead of the
Ray path against the in-process loop, and what the numbers a 16-node estimate rests on are (docs in
benchmarks/README.md).

    python benchmarks/batch_throughput.py [--rows 64] [--steps 20] [--json results/batch_throughput.json]

Needs the [ray] extra. Each configuration writes into a fresh folder; the model's optimized graphs come from the
graph cache (one warm-up run first), as in any run after the first."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def prompt_file(folder: Path, rows: int, steps: int) -> Path:
    """``rows`` text-to-image rows over the embedded model's colours and shapes."""
    colours = ["red", "orange", "yellow", "green", "blue", "purple", "white", "black"]
    shapes = ["circle", "square", "triangle", "star", "ring", "cross"]
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{k:04d}", "steps": steps,
                                        "prompt": f"a {colours[k % 8]} {shapes[k % 6]} on a {colours[(k + 3) % 8]} background"})
                            + "\n" for k in range(rows)), encoding="utf-8")
    return path


def measure(prompts: Path, out: Path, **kwargs: object) -> dict:
    """One batch run: wall seconds, rows/s, the rows' own seconds (from the manifest) and the first row's delay."""
    from ortdiffusion.batch import batch

    start = time.perf_counter()
    report = batch(prompts, out, progress=False, **kwargs)
    wall = time.perf_counter() - start
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert report.made == len(manifest) and not report.failed, report
    row_seconds = [r["seconds"] for r in manifest]
    steady = sorted(row_seconds)[: max(1, len(row_seconds) - len({r["worker"] for r in manifest}))]  # minus loads
    return {"wall_s": wall, "rows_per_s": len(manifest) / wall, "row_s_median": statistics.median(steady),
            "row_s_sum": sum(row_seconds), "workers": len({r["worker"] for r in manifest}),
            "picture_bytes_mean": statistics.mean((out / r["file"]).stat().st_size for r in manifest)}


def main() -> int:
    """Run the four configurations and print a JSON summary with the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import os

    import ray

    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ortdiffusion-batch-bench-") as scratch:
        folder = Path(scratch)
        prompts = prompt_file(folder, args.rows, args.steps)
        warm = folder / "warm"
        warm.mkdir()
        measure(prompt_file(warm, 2, 2), warm / "out", threads=1)  # the graph cache is filled before anything is timed
        results = {
            "local_threads_1": measure(prompts, folder / "local-1", threads=1),
            f"local_threads_{cpus}": measure(prompts, folder / "local-n", threads=cpus),
        }
        start = time.perf_counter()
        ray.init(num_cpus=cpus, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
        results["ray_init_s"] = time.perf_counter() - start
        try:
            results["ray_1_actor"] = measure(prompts, folder / "ray-1", use_ray=True, workers=1, threads=1)
            half = folder / "half"
            half.mkdir()
            results["ray_1_actor_half_rows"] = measure(prompt_file(half, args.rows // 2, args.steps), half / "out",
                                                       use_ray=True, workers=1, threads=1)
            results[f"ray_{cpus}_actors"] = measure(prompts, folder / "ray-n", use_ray=True, workers=cpus, threads=1)
        finally:
            ray.shutdown()
    local, ray1 = results["local_threads_1"], results["ray_1_actor"]
    # time outside the rows themselves (wall - the rows' own seconds, model loads included in those): a fixed part
    # (actor start, Ray Data's executor) and a per-row part (scheduling, moving the row and its record), separated
    # by running half the rows
    outside = {k: results[k]["wall_s"] - results[k]["row_s_sum"] for k in ("local_threads_1", "ray_1_actor",
                                                                            "ray_1_actor_half_rows")}
    results["outside_rows_s"] = outside
    results["ray_overhead_per_row_s"] = (outside["ray_1_actor"] - outside["ray_1_actor_half_rows"]) / (args.rows - args.rows // 2)
    results["ray_fixed_overhead_s"] = outside["ray_1_actor"] - results["ray_overhead_per_row_s"] * args.rows
    results["ray_1_actor_over_local"] = ray1["rows_per_s"] / local["rows_per_s"]
    results["ray_n_actors_over_1"] = results[f"ray_{cpus}_actors"]["rows_per_s"] / ray1["rows_per_s"]
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
