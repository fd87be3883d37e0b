"""Every side-by-side benchmark of issue 6 in one command, printed as one Markdown table of ratios:
(a) per-step pipeline overhead on the tiny model, (b) full-size SD 1.5 UNet step at 256 and 512,
(c) session creation cold and warm, (d) peak resident memory, (e) whole text2img at 256x256 with 20 steps,
and the int8/fp16 copies (speed and PSNR). ortdiffusion vs optimum's ORT pipeline vs diffusers, each
measured by the scripts beside this one (each in fresh processes), in one run on one machine.

    python benchmarks/full_size_export.py --size 256                      # once: build + plain export
    ortdiffusion export --model ~/.cache/ortdiffusion-bench/sd15-random-diffusers \\
        --output ~/.cache/ortdiffusion-bench/sd15-random-onnx-fused        # once: ortdiffusion's default export
    python benchmarks/run_all.py --optimum-python /path/to/optimum-venv/bin/python [--json results.json]

About 30 minutes on a 2-core machine; run it on a quiet machine (other work skews every figure). Without
--optimum-python the optimum columns stay empty. Not part of CI."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime

HERE = Path(__file__).resolve().parent


def run_script(name: str, *args: str) -> dict:
    """Run ``benchmarks/NAME.py ARGS`` and return the JSON it prints last (pretty-printed or one line)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], check=True, capture_output=True, text=True,
                         cwd=HERE)
    lines = out.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("{")]  # top-level JSON starts at column 0
    if not starts:
        raise RuntimeError(f"{name}.py printed no JSON:\n{out.stdout[-2000:]}")
    print(f"{name} {' '.join(args)}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return json.loads("\n".join(lines[starts[-1]:]))


def _fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.2f} {unit}" if unit != "ms" else f"{value:.3f} ms"


def _ratio(other: float | None, ours: float | None) -> str:
    return "n/a" if other is None or ours is None else f"{other / ours:.2f}x"


def table(r: dict) -> str:
    """The Markdown table: one row per measure; ratios are other / ortdiffusion (above 1: we are better)."""
    rows = []

    def add(measure: str, ours, optimum, diffusers, unit: str, goal: str) -> None:
        rows.append(f"| {measure} | {_fmt(ours, unit)} | {_fmt(optimum, unit)} | {_fmt(diffusers, unit)} | "
                    f"{_ratio(optimum, ours)} | {_ratio(diffusers, ours)} | {goal} |")

    o = r["overhead"]
    add("(a) pipeline overhead per step, tiny model", o["ortdiffusion"]["overhead_ms_per_step"],
        o.get("optimum", {}).get("overhead_ms_per_step"), o["diffusers"]["overhead_ms_per_step"], "ms",
        "< 1 ms and 3x below optimum")
    for size in ("256", "512"):
        att, full = r["attention"][f"{size}x{size}"], r[f"full_{size}"]
        add(f"(b) UNet step {size}x{size} (batch 2)", att["fused"]["step_s"], att["plain"]["step_s"],
            full["torch_step"]["step_s"], "s", {"256": "<= 1.3 s", "512": "<= 6 s"}[size])
    for size, key in (("256", "precision"), ("512", "precision_512")):
        static = r.get(key, {}).get("unet", {}).get("int8_static")
        if static:  # opt-in lower precision, against the same float32 references
            att, full = r["attention"][f"{size}x{size}"], r[f"full_{size}"]
            add(f"(b) UNet step {size}x{size}, int8-static (opt-in)", static["step_s"], att["plain"]["step_s"],
                full["torch_step"]["step_s"], "s", {"256": "<= 1.3 s", "512": "<= 6 s"}[size])
    add("(d) peak RSS, 512x512 UNet run", r["attention"]["512x512"]["fused"]["peak_rss_gb"],
        r["attention"]["512x512"]["plain"]["peak_rss_gb"], r["full_512"]["torch_step"]["peak_rss_gb"], "GB", "<= 4.0 GB")
    s = r["sessions"]
    add("(c) UNet session, cold (no cache)", s["no cache"]["session_s"], r["full_256"]["ort_step"]["session_s"],
        r["full_256"]["torch_step"]["load_s"], "s", "")
    add("(c) UNet session, warm (from the cache)", s["second load"]["session_s"], r["full_256"]["ort_step"]["session_s"],
        r["full_256"]["torch_step"]["load_s"], "s", "<= 3 s from the second load")
    t = r["text2img"]
    optimum = t.get("optimum", {})
    add("(c) whole pipeline load, warm", t["ortdiffusion"]["load_s"], optimum.get("load_s"), t["diffusers"]["load_s"], "s", "")
    add("(e) text2img 256x256, 20 steps", t["ortdiffusion"]["text2img_s"], optimum.get("text2img_s"),
        t["diffusers"]["text2img_s"], "s", "")
    add("(d) peak RSS, text2img 256x256", t["ortdiffusion"]["peak_rss_gb"], optimum.get("peak_rss_gb"),
        t["diffusers"]["peak_rss_gb"], "GB", "")
    header = ("| measure | ortdiffusion | optimum (ORT) | diffusers (torch) | optimum / ours | diffusers / ours | goal |\n"
              "|---|---|---|---|---|---|---|")
    lines = [f"| UNet step {p['size']}, {name} | {row['step_s']:.2f} s | {row['step_ratio_vs_fp32']:.2f}x of fp32 | "
             f"peak {row['peak_rss_gb']:.2f} GB | max diff {row['max_abs_difference_over_max']:.1e} |"
             for p in (r[k] for k in ("precision", "precision_512") if k in r) for name, row in p["unet"].items()]
    lines += [f"| default model text2img, {name} | {row['seconds']:.2f} s | "
              f"{row.get('time_ratio_vs_fp32', 1.0):.2f}x of fp32 | PSNR {row.get('psnr_vs_fp32_db', float('inf')):.1f} dB | "
              f"colours {row.get('colours_ok', float('nan')):.0%}, shapes {row.get('shapes_ok', float('nan')):.0%} |"
              for name, row in r["precision"]["default_model"].items()]
    precision = ("| precision | time | vs fp32 | memory / picture quality | difference / prompt kept |\n"
                 "|---|---|---|---|---|\n" + "\n".join(lines))
    threads = ""
    if "threads" in r:
        t = r["threads"]
        threads = (f"\n\n| ONNX Runtime threads, UNet step {t['size']} | step | vs default |\n|---|---|---|\n"
                   + "\n".join(f"| {name} | {row['step_s']:.2f} s | {row['ratio_vs_default']:.2f}x |"
                                for name, row in t["settings"].items()))
    return header + "\n" + "\n".join(rows) + "\n\n" + precision + threads


def main() -> int:
    """Run every benchmark script, save the raw JSON, print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--optimum-python", type=Path, help="python of a virtualenv with optimum-onnx")
    parser.add_argument("--json", type=Path, default=Path("benchmark-results.json"),
                        help="raw results, written after each script; a rerun skips the scripts already in it "
                             "(delete it for a fresh run)")
    args = parser.parse_args()
    optimum = ["--optimum-python", str(args.optimum_python)] if args.optimum_python else []
    plan = {
        "text2img": ("text2img_full_size", *optimum),
        "precision": ("precision",),
        "precision_512": ("precision", "--size", "512"),
        "overhead": ("pipeline_overhead", *optimum),
        "full_256": ("full_size_export", "--size", "256", "--reuse-export"),
        "full_512": ("full_size_export", "--size", "512", "--reuse-export"),
        "attention": ("attention_fused_vs_plain",),
        "sessions": ("session_creation",),
        "threads": ("thread_settings",),
    }
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results.setdefault("machine", {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                                   "onnxruntime": onnxruntime.__version__, "date": time.strftime("%Y-%m-%d")})
    for key, (script, *script_args) in plan.items():
        if key not in results:
            results[key] = run_script(script, *script_args)
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
