"""Lower precision (``ortdiffusion quantize``) against float32, side by side in one run, with ratios:

- the full-size SD 1.5 architecture UNet (random weights, fused attention export): step time and peak
  resident memory at --size, float32 vs int8 (MatMul weights, the default) vs int8 (MatMul and Conv) vs
  int8-static (Conv and MatMul, calibrated on 2 prompts x 4 steps at --size), each in a fresh process,
  plus the relative difference of noise_pred;
- the embedded default model (trained, so pictures mean something): whole text2img at 64x64, 20 steps,
  shape prompts x 2 seeds, PSNR of the int8, int8-static (built-in calibration prompts) and fp16 pictures
  against float32, and how often the prompt's colours and shape are still drawn (training.scoring).

    python benchmarks/precision.py [--fused DIR] [--size 256] [--int8-types-alternatives]

``--int8-types-alternatives`` also times int8 and int8-static with the integer types their defaults were
chosen against (uint8 weights; int8 weights at full range, which saturate on CPUs without VNNI):
docs/precision.md.

The converted folders are cached beside --fused. Not part of CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from text2img_full_size import complete_folder
from unet_inputs import best_run_seconds, peak_rss_gb, unet_feeds

CACHE = Path.home() / ".cache" / "ortdiffusion-bench"
PROMPTS = ["a red circle on a blue background", "a yellow star on a purple background",
           "a white square on a green background", "an orange triangle on a black background"]
# (shape, colour, background) of PROMPTS, for the colour and shape scores
ATTRIBUTES = [("circle", "red", "blue"), ("star", "yellow", "purple"), ("square", "white", "green"),
              ("triangle", "orange", "black")]
# The integer types the defaults (precision.DEFAULT_INT8_TYPES) were chosen against:
# name -> (precision, ops, (weights, activations, reduce_range))
INT8_ALTERNATIVES = {
    "int8_matmul_u8u8": ("int8", ["MatMul"], ("uint8", "uint8", False)),
    "int8_matmul_u8s8_full_range": ("int8", ["MatMul"], ("int8", "uint8", False)),
    "int8_static_u8u8": ("int8-static", ["Conv", "MatMul"], ("uint8", "uint8", False)),
    "int8_static_u8s8_full_range": ("int8-static", ["Conv", "MatMul"], ("int8", "uint8", False)),
}
CALIBRATION_PROMPTS = ["a photograph of a cat sitting on a sofa", "a mountain lake at sunset, oil painting"]


def measure_unet(unet: Path, size: int, output: Path) -> dict:
    """Session creation, best of 2 steps after a warm-up, peak RSS; noise_pred saved for the comparison."""
    import numpy as np
    import onnxruntime as ort

    start = time.perf_counter()
    session = ort.InferenceSession(str(unet), providers=["CPUExecutionProvider"])
    created = time.perf_counter() - start
    feeds = unet_feeds(size, unet_model=unet)
    np.save(output, session.run(None, feeds)[0])
    step = best_run_seconds(lambda: session.run(None, feeds), repeats=2)
    return {"session_s": created, "step_s": step, "peak_rss_gb": peak_rss_gb()}


def pictures(folder: Path):
    """The default-model pictures (4 prompts x 2 seeds, 20 steps) and the seconds they took."""
    import numpy as np

    import ortdiffusion as od

    pipe = od.StableDiffusionPipeline.from_pretrained(folder, graph_cache=False)
    pipe.set_progress_bar_config(disable=True)
    start = time.perf_counter()
    images = np.concatenate([pipe(PROMPTS, num_inference_steps=20, generator=s, output_type="np").images for s in (0, 1)])
    return images, time.perf_counter() - start


def semantic_scores(images) -> dict:
    """Share of pictures with the prompt's colours (scoring.colour_check) and with its shape recognised."""
    import numpy as np

    from ortdiffusion.training import shapes
    from ortdiffusion.training.scoring import classify_shape, colour_check

    attributes = [shapes.ShapeAttributes(shape, colour, (background,), None, (0.5, 0.5), 0.3, 0.0)
                  for shape, colour, background in ATTRIBUTES] * (len(images) // len(ATTRIBUTES))
    pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    colours = [colour_check(image, a)["ok"] for image, a in zip(pixels, attributes)]
    found = [classify_shape(image, a.colour)[0] == a.shape for image, a in zip(pixels, attributes)]
    return {"colours_ok": float(np.mean(colours)), "shapes_ok": float(np.mean(found))}


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB of two pictures in [0, 1]."""
    import numpy as np

    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-20)))


def converted(source: Path, precision: str, ops: list[str], types=None, **calibration) -> Path:
    """``source`` converted by convert_precision once into a sibling folder named by the settings (kept for
    later runs); ``types``: Int8Types, default the precision's own."""
    from ortdiffusion.quantization.precision import DEFAULT_INT8_TYPES, convert_precision

    chosen = types or DEFAULT_INT8_TYPES[precision]
    name = f"{source.name}-{precision}-{'-'.join(ops)}-w{chosen.weights}-a{chosen.activations}"
    name += "-reduced" if chosen.reduce_range else ""
    name += f"-{calibration['calibration_size']}" if "calibration_size" in calibration else ""
    target = source.with_name(name)
    if not (target / "model_index.json").is_file():
        convert_precision(source, target, precision, parts=["unet"], int8_ops=ops, overwrite=True,
                          int8_types=types, **calibration)
    return target


def main() -> int:
    """Run every variant in subprocesses and print JSON with ratios against float32."""
    import numpy as np

    from ortdiffusion.models import default_model_path
    from ortdiffusion.quantization.precision import Int8Types, convert_precision

    parser = argparse.ArgumentParser()
    parser.add_argument("--fused", type=Path, default=CACHE / "sd15-random-onnx-fused")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--int8-types-alternatives", action="store_true",
                        help="also time int8 and int8-static with the integer types not chosen")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_unet(Path(args.child[0]), int(args.child[1]), Path(args.child[2]))))
        return 0
    if not (args.fused / "unet" / "model.onnx").is_file():
        raise SystemExit(f"{args.fused} has no unet/model.onnx; see benchmarks/attention_fused_vs_plain.py for the export")
    complete_folder(args.fused, args.fused.with_name("sd15-random-onnx"))
    static = {"calibration_prompts": CALIBRATION_PROMPTS, "calibration_steps": 4, "calibration_size": args.size}
    variants = {
        "fp32": args.fused,
        "int8_matmul": converted(args.fused, "int8", ["MatMul"]),
        "int8_matmul_conv": converted(args.fused, "int8", ["MatMul", "Conv"]),
        "int8_static": converted(args.fused, "int8-static", ["Conv", "MatMul"], **static),
    }
    if args.int8_types_alternatives:  # the integer types not chosen (docs/precision.md), for their speed here
        for name, (precision, ops, types) in INT8_ALTERNATIVES.items():
            variants[name] = converted(args.fused, precision, ops, Int8Types(*types),
                                       **(static if precision == "int8-static" else {}))
    summary: dict = {"unet": {}, "default_model": {}}
    with tempfile.TemporaryDirectory() as scratch:
        outputs = {}
        for name, folder in variants.items():
            outputs[name] = Path(scratch) / f"{name}.npy"
            run = subprocess.run([sys.executable, __file__, "--child", str(folder / "unet" / "model.onnx"), str(args.size),
                                  str(outputs[name])], check=True, capture_output=True, text=True)
            summary["unet"][name] = json.loads(run.stdout.strip().splitlines()[-1])
        reference = np.load(outputs["fp32"])
        for name in variants:
            row = summary["unet"][name]
            row["step_ratio_vs_fp32"] = row["step_s"] / summary["unet"]["fp32"]["step_s"]
            row["peak_ratio_vs_fp32"] = row["peak_rss_gb"] / summary["unet"]["fp32"]["peak_rss_gb"]
            row["max_abs_difference_over_max"] = float(np.abs(np.load(outputs[name]) - reference).max() / np.abs(reference).max())

        base_images, base_seconds = pictures(default_model_path())
        summary["default_model"]["fp32"] = {"seconds": base_seconds, **semantic_scores(base_images)}
        for precision in ("int8", "int8-static", "fp16"):
            folder = Path(scratch) / f"default-{precision}"
            convert_precision(default_model_path(), folder, precision)
            images, seconds = pictures(folder)
            summary["default_model"][precision] = {"seconds": seconds, "time_ratio_vs_fp32": seconds / base_seconds,
                                                   "psnr_vs_fp32_db": psnr(images, base_images),
                                                   **semantic_scores(images)}
    summary["size"] = f"{args.size}x{args.size}"
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
