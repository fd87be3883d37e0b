"""LoRA on the full-size SD 1.5 architecture (random weights): switch time and UNet step time with and
without the LoRA, in merge mode (merge + session recreation), live mode (in-place buffer rewrite) and swap
mode (LoRA-slot exports); .lora conversion, and its zero-copy load (resident memory before and after use).

    python benchmarks/full_size_export.py --size 256      # once: builds and exports into the cache
    python benchmarks/lora_full_size.py [--rank 32]

The rank-32 random LoRA over attention and feed-forward layers is made with peft once into the cache.
Each measurement runs in a fresh subprocess (peak RSS per task). Not part of CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from unet_inputs import best_run_seconds, peak_rss_gb, unet_feeds

TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2"]


def rss_gb() -> float:
    """Current resident set size in GB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def make_lora(source: Path, target: Path, rank: int) -> dict:
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    start = time.perf_counter()
    unet = UNet2DConditionModel.from_pretrained(source / "unet")
    config = LoraConfig(r=rank, lora_alpha=rank / 2, target_modules=TARGETS, init_lora_weights=False)
    unet.add_adapter(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.01)
    StableDiffusionPipeline.save_lora_weights(target.parent, unet_lora_layers=get_peft_model_state_dict(unet),
                                              unet_lora_adapter_metadata=config.to_dict(), weight_name=target.name)
    return {"make_s": time.perf_counter() - start, "file_mb": target.stat().st_size / 1e6}


def measure(exported: Path, lora: Path, size: int) -> dict:
    import onnxruntime as ort

    from ortdiffusion import initializers
    from ortdiffusion.lora import load_lora_file, match_layers, merged_weights, module_targets
    from ortdiffusion.sessions import create_session

    unet_path = exported / "unet" / "model.onnx"
    feeds = unet_feeds(size, unet_model=unet_path)

    def step_time(session: ort.InferenceSession) -> float:
        return best_run_seconds(lambda: session.run(None, feeds), repeats=3)

    out: dict = {}
    start = time.perf_counter()
    plain = create_session(unet_path)
    out["session_plain_s"] = time.perf_counter() - start
    out["step_plain_s"] = step_time(plain)
    del plain
    rss_before = rss_gb()
    start = time.perf_counter()
    parsed = load_lora_file(lora)
    matched = match_layers(parsed, "unet", module_targets(exported / "unet", "unet"))
    out["lora_parse_match_s"] = time.perf_counter() - start
    out["lora_layers"] = len(matched)
    out["rss_after_lora_load_gb"] = rss_gb() - rss_before
    base = initializers.load(unet_path)
    start = time.perf_counter()
    merged = merged_weights(base, [(matched, 1.0)])
    out["merge_s"] = time.perf_counter() - start
    out["merged_mb"] = sum(a.nbytes for a in merged.values()) / 1e6
    start = time.perf_counter()
    with_lora = create_session(unet_path, initializers=merged)
    out["session_with_lora_s"] = time.perf_counter() - start
    out["switch_s"] = out["merge_s"] + out["session_with_lora_s"]
    out["step_with_lora_s"] = step_time(with_lora)
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def measure_live(exported: Path, lora: Path, size: int) -> dict:
    """Live mode: the LoRA's weights fed as inputs from owned buffers, switched in place."""

    from ortdiffusion import initializers
    from ortdiffusion.lora import load_lora_file, match_layers, module_targets
    from ortdiffusion.lora.live import LiveWeights, build_live_graph
    from ortdiffusion.sessions import create_session_from_graph

    unet = exported / "unet"
    feeds = unet_feeds(size, unet_model=unet / "model.onnx")
    matched = match_layers(load_lora_file(lora), "unet", module_targets(unet, "unet"))
    base = initializers.load(unet / "model.onnx")
    out: dict = {}
    start = time.perf_counter()
    graph = build_live_graph(unet / "model.onnx", {a.target.initializer for a in matched})
    live = LiveWeights(graph, base)
    session = create_session_from_graph(graph.model, unet)
    out["live_session_s"] = time.perf_counter() - start

    def step() -> float:
        return best_run_seconds(lambda: session.run(None, {**feeds, **live.feeds}), repeats=3)

    out["live_step_no_lora_s"] = step()
    for label, plan in (("switch_on", [(matched, 1.0)]), ("switch_weight", [(matched, 0.5)]), ("switch_off", [])):
        start = time.perf_counter()
        live.update(plan)
        out[f"live_{label}_s"] = time.perf_counter() - start
    live.update([(matched, 1.0)])
    out["live_step_with_lora_s"] = step()
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def measure_swap(source: Path, lora: Path, size: int) -> dict:
    """Swap mode: export with rank-32 LoRA slots (cached), then fill them through the pipeline's machinery."""

    from ortdiffusion import initializers
    from ortdiffusion.exporter import export_pipeline
    from ortdiffusion.lora import load_lora_file, match_layers, module_targets
    from ortdiffusion.lora.live import LiveWeights, build_live_graph
    from ortdiffusion.lora.swap import fill_slots, read_slots
    from ortdiffusion.sessions import create_session_from_graph

    target = source.parent / "sd15-random-onnx-lora32"
    out: dict = {}
    if not (target / "model_index.json").is_file():
        start = time.perf_counter()
        export_pipeline(source, target, lora_rank=32, overwrite=True)
        out["export_with_slots_s"] = time.perf_counter() - start
    unet = target / "unet"
    slots = read_slots(unet, "unet")
    matched = match_layers(load_lora_file(lora), "unet", module_targets(unet, "unet"))
    base = initializers.load(unet / "model.onnx")
    names = {n for slot in slots.values() for n in (slot.a, slot.b)}
    start = time.perf_counter()
    live = LiveWeights(build_live_graph(unet / "model.onnx", names), base)
    session = create_session_from_graph(live.graph.model, unet)
    out["swap_session_s"] = time.perf_counter() - start
    feeds = unet_feeds(size, unet_model=unet / "model.onnx")

    def step() -> float:
        return best_run_seconds(lambda: session.run(None, {**feeds, **live.feeds}), repeats=3)

    def fill(plan) -> float:
        start = time.perf_counter()
        arrays = fill_slots(slots, plan, {n: tuple(base[n].shape) for n in names})
        for name, array in arrays.items():
            live.buffers[name][...] = array.T if live.graph.transposed[name] else array
        return time.perf_counter() - start

    out["slots"] = len(slots)
    out["swap_switch_off_s"] = fill([])
    out["swap_step_empty_slots_s"] = step()
    out["swap_switch_on_s"] = fill([(matched, 1.0)])
    out["swap_step_with_lora_s"] = step()
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def convert_lora(exported: Path, lora: Path, target: Path) -> dict:
    """`ortdiffusion lora convert`: parse, match to the export's weights and write the .lora file."""
    from ortdiffusion.lora.lora_file import write_lora_file
    from ortdiffusion.lora.model_match import match_lora_to_model

    start = time.perf_counter()
    write_lora_file(target, match_lora_to_model(exported, lora))
    return {"convert_s": time.perf_counter() - start, "lora_file_mb": target.stat().st_size / 1e6}


def load_lora_file_zero_copy(exported: Path, lora_file: Path) -> dict:
    """Resident memory around loading a .lora: mapping it must not read it (growth << file size); reading
    every byte then brings it in (growth ~ file size, from the page cache, not a copy)."""
    import numpy as np

    from ortdiffusion import initializers
    from ortdiffusion.lora.lora_file import read_lora_file
    from ortdiffusion.lora.targets import module_targets

    targets = {"unet": module_targets(exported / "unet", "unet")}  # the model side, loaded before measuring
    before = rss_gb()
    start = time.perf_counter()
    tensors = initializers.load(lora_file)
    load_s = time.perf_counter() - start
    after_load = rss_gb()
    start = time.perf_counter()
    assignments = read_lora_file(lora_file, targets)
    match_s = time.perf_counter() - start
    after_match = rss_gb()
    checksum = sum(float(np.asarray(tensors[name], dtype=np.float64).sum()) for name in tensors)
    after_use = rss_gb()
    return {
        "file_mb": lora_file.stat().st_size / 1e6, "tensors": len(tensors), "layers": len(assignments["unet"]),
        "load_s": load_s, "rss_growth_after_load_mb": (after_load - before) * 1e3,
        "read_and_check_against_model_s": match_s, "rss_growth_after_check_mb": (after_match - before) * 1e3,
        "rss_growth_after_reading_every_byte_mb": (after_use - before) * 1e3, "checksum": checksum,
    }


def _child(task: str, *args: object) -> dict:
    spec = json.dumps([task, [str(a) for a in args]])
    out = subprocess.run([sys.executable, __file__, "--child", spec], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Make the LoRA once, then measure in a subprocess; prints JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--only", choices=["lora-file", "merge", "live", "swap"], help="run one mode")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, task_args = json.loads(args.child)
        if task == "make":
            result = make_lora(Path(task_args[0]), Path(task_args[1]), int(task_args[2]))
        elif task == "swap":
            result = measure_swap(Path(task_args[0]), Path(task_args[1]), int(task_args[2]))
        elif task == "convert":
            result = convert_lora(Path(task_args[0]), Path(task_args[1]), Path(task_args[2]))
        elif task == "lora-file":
            result = load_lora_file_zero_copy(Path(task_args[0]), Path(task_args[1]))
        elif task == "live":
            result = measure_live(Path(task_args[0]), Path(task_args[1]), int(task_args[2]))
        else:
            result = measure(Path(task_args[0]), Path(task_args[1]), int(task_args[2]))
        print(json.dumps(result))
        return 0
    source, exported = args.cache / "sd15-random-diffusers", args.cache / "sd15-random-onnx"
    if not (exported / "model_index.json").is_file():
        raise SystemExit("run benchmarks/full_size_export.py first (it builds the cached model)")
    lora = args.cache / f"lora-r{args.rank}.safetensors"
    summary = {}
    if not lora.is_file():
        summary["make"] = _child("make", source, lora, args.rank)
    if args.only in (None, "lora-file"):
        lora_file = args.cache / f"lora-r{args.rank}.lora"
        summary["convert"] = _child("convert", exported, lora, lora_file)
        # drop the file from the page cache where allowed, so the load is a cold one
        subprocess.run(["dd", f"of={lora_file}", "oflag=nocache", "conv=notrunc,fdatasync", "count=0"],
                       capture_output=True, check=False)
        summary["lora_file"] = _child("lora-file", exported, lora_file)
    if args.only in (None, "merge"):
        summary["merge_mode"] = _child("measure", exported, lora, args.size)
    if args.only in (None, "live"):
        summary["live_mode"] = _child("live", exported, lora, args.size)
    if args.only in (None, "swap"):
        summary["swap_mode"] = _child("swap", source, lora, args.size)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
