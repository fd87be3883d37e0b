"""Issue 19 at full size: the random-weight SD 1.5 architecture (``full_size_export.py`` builds it) written as one
single-file checkpoint in the original LDM layout (the tests' own reverse key map, tests/ldm_layout.py), then
exported from that file and from the diffusers folder, side by side in one run: every initializer of the four
graphs equal, and export time and peak memory of each (each export in its own subprocess, so its peak RSS is
its own).

    python benchmarks/single_file_export.py [--cache ~/.cache/ortdiffusion-bench] [--json results/single_file_export.json]

Needs the test extra and about 16 GB of disk in the cache folder (the single file is kept for later runs; the
two exports are removed after the comparison). Not part of CI."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from unet_inputs import peak_rss_gb

PARTS = ("text_encoder", "unet", "vae_decoder", "vae_encoder")


def write_single_file(source: Path, target: Path) -> dict:
    """The diffusers folder ``source`` as one LDM-layout .safetensors at ``target``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from ldm_layout import diffusers_text_encoder_to_ldm, diffusers_unet_to_ldm, diffusers_vae_to_ldm
    from safetensors.numpy import load_file, save_file

    start = time.perf_counter()

    def state(part: str) -> dict:
        return load_file(str(next((source / part).glob("*.safetensors"))))

    unet_config = json.loads((source / "unet" / "config.json").read_text())
    tensors = {**diffusers_unet_to_ldm(state("unet"), unet_config),
               **diffusers_vae_to_ldm(state("vae"), "first_stage_model."),
               **diffusers_text_encoder_to_ldm(state("text_encoder"))}
    save_file(tensors, str(target))
    return {"write_s": time.perf_counter() - start, "tensors": len(tensors), "bytes": target.stat().st_size,
            "peak_rss_gb": peak_rss_gb()}


def export(model: Path, target: Path) -> dict:
    """``ortdiffusion export`` of ``model`` (a folder or a single file) into ``target``."""
    from ortdiffusion.exporter import export_pipeline

    start = time.perf_counter()
    report = export_pipeline(model, target, overwrite=True)
    return {"export_s": time.perf_counter() - start, "parts_s": report.seconds, "peak_rss_gb": peak_rss_gb()}


def compare(first: Path, second: Path) -> dict:
    """Initializer by initializer equality of the two exports' graphs (memory-mapped, one part at a time)."""
    import numpy as np

    from ortdiffusion import initializers
    from ortdiffusion.model_folder import MODEL_FILE

    result = {}
    for part in PARTS:
        a, b = (initializers.load(folder / part / MODEL_FILE) for folder in (first, second))
        differ = [name for name in a if name not in b or not np.array_equal(np.asarray(a[name]), np.asarray(b[name]))]
        result[part] = {"initializers": len(a), "differ": len(differ) + len(set(b) - set(a)), "examples": differ[:3]}
    return result


TASKS = {"write_single_file": write_single_file, "export": export, "compare": compare}


def _child(task: str, *args: object) -> dict:
    """Run TASKS[task](*args) in a fresh interpreter (so its peak RSS is its own); returns its JSON result."""
    spec = json.dumps([task, [str(a) for a in args]])
    out = subprocess.run([sys.executable, __file__, "--child", spec], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Write the single file (once), export it and the folder, compare, print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, task_args = json.loads(args.child)
        print(json.dumps(TASKS[task](*map(Path, task_args))))
        return 0
    source, single = args.cache / "sd15-random-diffusers", args.cache / "sd15-random-ldm.safetensors"
    if not (source / "model_index.json").is_file():
        raise SystemExit(f"{source} is missing: run benchmarks/full_size_export.py once to build it")
    summary = {}
    if not single.is_file():
        summary["write_single_file"] = _child("write_single_file", source, single)
    from_folder, from_file = args.cache / "sd15-bench-from-folder", args.cache / "sd15-bench-from-file"
    try:
        summary["export_folder"] = _child("export", source, from_folder)
        summary["export_single_file"] = _child("export", single, from_file)
        summary["weights"] = _child("compare", from_folder, from_file)
    finally:
        for folder in (from_folder, from_file):
            shutil.rmtree(folder, ignore_errors=True)
    summary["ratios"] = {
        "time_file_over_folder": summary["export_single_file"]["export_s"] / summary["export_folder"]["export_s"],
        "peak_file_over_folder": summary["export_single_file"]["peak_rss_gb"] / summary["export_folder"]["peak_rss_gb"],
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
