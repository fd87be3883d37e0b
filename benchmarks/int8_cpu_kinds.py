"""int8 integer types on both kinds of x86 CPU, side by side in one run: which weight type and range keep
the embedded model's pictures on AVX-512 VNNI (this machine, natively) and on AVX2 without VNNI (the same
machine emulating a Haswell with qemu-user, tests/avx2_emulation.py; the real ONNX Runtime AVX2 kernels).

For each variant of ``int8`` (dynamic) and ``int8-static`` (built-in calibration prompts, 10 steps):
- ``unet``: noise_pred of one UNet call on recorded inputs (2 shape prompts x 3 timesteps of a 10-step
  run, classifier-free-guidance batches, stacked) against float32, as SNR in dB, native and emulated;
- ``--pictures``: whole text-to-image on 4 shape prompts x ``--seeds`` seeds, 20 steps: the denoising loop
  (text encoder and UNet, the parts int8 converts) runs natively or emulated, the float32 VAE decoder
  natively; PSNR against float32 and the semantic rates (prompt colours, prompt shape).

    python benchmarks/int8_cpu_kinds.py [--variants ...] [--pictures] [--seeds 2]

Emulated float32 work is slow (about 4000x), so the picture runs take tens of minutes per variant.
Needs qemu-user (Debian: apt-get install qemu-user). Not part of CI; tests/test_precision_cpu_kinds.py
checks the chosen defaults the fast way."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from avx2_emulation import run_as_haswell, text2img_latents, unet_output
from precision import ATTRIBUTES, PROMPTS, psnr, semantic_scores

CACHE = Path.home() / ".cache" / "ortdiffusion-bench" / "int8-cpu-kinds"
# name -> (precision, weights, activations, reduce_range)
VARIANTS = {
    "dynamic-u8s8": ("int8", "int8", "uint8", False),
    "dynamic-u8s7": ("int8", "int8", "uint8", True),
    "dynamic-u8u8": ("int8", "uint8", "uint8", False),
    "static-u8s8": ("int8-static", "int8", "uint8", False),
    "static-u8s7": ("int8-static", "int8", "uint8", True),
    "static-u8u8": ("int8-static", "uint8", "uint8", False),
    "static-s8s8": ("int8-static", "int8", "int8", False),
}
UNET_PROMPTS = PROMPTS[:2]
UNET_STEPS = (0, 4, 9)  # of a 10-step run


def variant_folder(name: str) -> Path:
    """The default model converted as ``name`` says (made once, kept in CACHE)."""
    from ortdiffusion.models import default_model_path
    from ortdiffusion.quantization.precision import Int8Types, convert_precision

    precision, weights, activations, reduce_range = VARIANTS[name]
    folder = CACHE / name
    if not (folder / "model_index.json").is_file():
        convert_precision(default_model_path(), folder, precision, overwrite=True,
                          int8_types=Int8Types(weights, activations, reduce_range))
    return folder


def recorded_feeds() -> dict[str, np.ndarray]:
    """UNet inputs of the float32 pipeline at UNET_STEPS for UNET_PROMPTS, stacked into one batch."""
    from ortdiffusion.models import default_model_path
    from ortdiffusion.quantization.calibration import collect_unet_inputs

    runs = collect_unet_inputs(default_model_path(), UNET_PROMPTS, num_inference_steps=10)
    chosen = [run for k, run in enumerate(runs) if k % 10 in UNET_STEPS]
    return {name: np.concatenate([run[name] for run in chosen]) for name in chosen[0]}


def snr_db(value: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-noise ratio of ``value`` against ``reference`` in dB."""
    noise = float(np.mean((value - reference) ** 2))
    return float(10 * np.log10(float(np.mean(reference**2)) / max(noise, 1e-30)))


def unet_rows(names: list[str], scratch: Path) -> dict:
    """noise_pred SNR per variant, natively and emulated (two emulated children at a time)."""
    from ortdiffusion.model_folder import part_folder
    from ortdiffusion.models import default_model_path

    feeds = recorded_feeds()
    np.savez(scratch / "feeds.npz", **feeds)
    reference = unet_output(part_folder(default_model_path(), "unet") / "model.onnx", feeds)

    def emulated(name: str) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        out = scratch / f"{name}.npy"
        run_as_haswell(["unet", str(variant_folder(name) / "unet" / "model.onnx"), str(scratch / "feeds.npz"),
                        str(out)], timeout=3600)
        return np.load(out), time.perf_counter() - start

    rows = {}
    for name in names:
        variant_folder(name)  # convert before the threads start
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(names, pool.map(emulated, names)))
    for name in names:
        native = unet_output(variant_folder(name) / "unet" / "model.onnx", feeds)
        rows[name] = {"snr_db_native": snr_db(native, reference), "snr_db_avx2": snr_db(results[name][0], reference),
                      "emulated_s": results[name][1]}
    return rows


def decode(latents: np.ndarray) -> np.ndarray:
    """float32 VAE decoding of final latents to pictures in [0, 1] (NHWC), natively, as the pipeline does."""
    import ortdiffusion as od
    from ortdiffusion.models import default_model_path

    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path(), graph_cache=False)
    return pipe.decode(latents, "np", return_dict=True).images


def picture_rows(names: list[str], seeds: list[int], scratch: Path) -> dict:
    """PSNR and semantic rates per variant, native and emulated loops, against native float32."""
    from ortdiffusion.models import default_model_path

    spec = scratch / "spec.json"
    spec.write_text(json.dumps({"prompts": PROMPTS, "seeds": seeds, "steps": 20}))
    reference = decode(text2img_latents(default_model_path(), PROMPTS, seeds, 20))
    rows = {"fp32": semantic_scores(reference)}

    def emulated(name: str) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        out = scratch / f"{name}-latents.npy"
        run_as_haswell(["latents", str(variant_folder(name)), str(spec), str(out)], timeout=4 * 3600)
        return np.load(out), time.perf_counter() - start

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(names, pool.map(emulated, names)))
    for name in names:
        native = decode(text2img_latents(variant_folder(name), PROMPTS, seeds, 20))
        avx2 = decode(results[name][0])
        rows[name] = {"native": {"psnr_db": psnr(native, reference), **semantic_scores(native)},
                      "avx2": {"psnr_db": psnr(avx2, reference), **semantic_scores(avx2)},
                      "emulated_s": results[name][1]}
    return rows


def main() -> int:
    """Print JSON: per variant, UNet SNR (and with --pictures, picture PSNR and semantic rates) per CPU kind."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument("--pictures", action="store_true", help="also whole pictures (slow under emulation)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run: first-seed ... first-seed + seeds - 1")
    parser.add_argument("--skip-unet", action="store_true")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    summary: dict = {"prompts": PROMPTS, "attributes": ATTRIBUTES}
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_unet:
            summary["unet"] = unet_rows(args.variants, Path(scratch))
            print(json.dumps(summary["unet"], indent=2), flush=True)
        if args.pictures:
            summary["pictures"] = picture_rows(args.variants, list(range(args.first_seed, args.first_seed + args.seeds)),
                                              Path(scratch))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
