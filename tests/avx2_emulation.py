"""Run ONNX Runtime's AVX2 kernels on a machine that has AVX-512 VNNI: a child Python process under Debian's
``qemu-user`` emulating a Haswell CPU (AVX2 + FMA, no AVX-512, no VNNI). ONNX Runtime picks its kernels
from CPUID, which qemu answers as a Haswell would, so the child really runs the non-VNNI integer kernels
whose 16-bit pairwise sums saturate (``../shared/tools/u8s8_saturation_check.py`` shows the difference).

Emulation is slow for float work (about 4000x for float32 GEMMs, which qemu computes in soft float) and
tolerable for integer work (about 45x), so the children run small things: one UNet call on recorded
inputs, or a short denoising loop on the embedded model.

As a script (the child side):
    python avx2_emulation.py unet MODEL.onnx FEEDS.npz OUT.npy     one UNet run on the saved feeds
    python avx2_emulation.py latents FOLDER SPEC.json OUT.npy      text-to-image latents (output_type="latent")
    python avx2_emulation.py int8-dot-products                     what ortdiffusion detects on this CPU
    python avx2_emulation.py randn SEED COUNT OUT.npy              ortdiffusion.Generator(SEED).randn(COUNT)
    python avx2_emulation.py scheduler-steps OUT.npz               scheduler_step_samples(), one array per class
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

QEMU = "qemu-x86_64"
CPU_MODEL = "Haswell"


def emulator() -> str | None:
    """The qemu-user binary's path, or None where it is not installed (``apt-get install qemu-user``)."""
    return shutil.which(QEMU)


def run_as_haswell(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run this file as a script with ``args`` in a Python process emulated as a Haswell CPU; raise
    RuntimeError with the child's stderr if it fails. One intra-op thread: under emulation a spinning pool
    thread only burns another core."""
    qemu = emulator()
    if qemu is None:
        raise FileNotFoundError(f"{QEMU} is not installed (Debian: apt-get install qemu-user)")
    env = {**os.environ, "ORTDIFFUSION_EMULATED_THREADS": "1"}
    command = [qemu, "-cpu", CPU_MODEL, sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"emulated run {args} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done


def _options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("ORTDIFFUSION_EMULATED_THREADS", "0"))  # 0: ORT's default
    return options


def _session(model: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(model), _options(), providers=["CPUExecutionProvider"])


def unet_output(model: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The first output of ``model`` on ``feeds`` in this process (native kernels)."""
    return _session(model).run(None, feeds)[0]


def text2img_latents(folder: Path, prompts: list[str], seeds: list[int], steps: int) -> np.ndarray:
    """Final latents of ``folder``'s text-to-image pipeline, one batch of ``prompts`` per seed, concatenated."""
    import ortdiffusion as od

    pipe = od.StableDiffusionPipeline.from_pretrained(folder, sess_options=_options(), graph_cache=False)
    pipe.set_progress_bar_config(disable=True)
    return np.concatenate([pipe(prompts, num_inference_steps=steps, generator=seed, output_type="latent").images
                           for seed in seeds])


STEP_CLASSES = ("DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler", "UniPCMultistepScheduler",
                "DPMSolverMultistepScheduler",
                "DPMSolverSinglestepScheduler", "HeunDiscreteScheduler")


def scheduler_step_samples(steps: int = 6) -> dict[str, np.ndarray]:
    """Each of STEP_CLASSES' final sample after ``steps`` deterministic steps on fixed float32 inputs of 1x4x9x13
    (an odd size, so the vector kernels' tails run too), every step's x_0 stacked after it where the step gives
    one: what the element-wise kernels computed, to compare across CPUs bit for bit."""
    import ortdiffusion as od

    config = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1}
    g = od.Generator(11)
    sample, model_output = g.randn((1, 4, 9, 13)), g.randn((1, 4, 9, 13))
    out = {}
    for name in STEP_CLASSES:
        scheduler = getattr(od, name).from_config(config)
        scheduler.set_timesteps(steps)
        x, kept = sample, []
        for t in scheduler.timesteps:
            result = scheduler.step(model_output, t, scheduler.scale_model_input(x, t))
            x = result.prev_sample
            kept.append(x)
            x0 = getattr(result, "pred_original_sample", None)
            if x0 is not None:
                kept.append(x0)
        out[name] = np.stack(kept)
    return out


def _child(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "int8-dot-products":
        from ortdiffusion import _native

        print(_native.cpu_int8_dot_products(), _native.torch_cpu_capability())  # the vector ISA the child sees
        return 0
    if kind == "randn":
        import ortdiffusion as od

        seed, count, out = rest
        np.save(out, od.Generator(int(seed)).randn((int(count),)))
        return 0
    if kind == "scheduler-steps":
        np.savez(rest[0], **scheduler_step_samples())
        return 0
    source, spec, out = rest
    if kind == "unet":
        with np.load(spec) as feeds:
            np.save(out, unet_output(Path(source), dict(feeds)))
    elif kind == "latents":
        request = json.loads(Path(spec).read_text())
        np.save(out, text2img_latents(Path(source), request["prompts"], request["seeds"], request["steps"]))
    else:
        raise SystemExit(f"unknown child kind {kind!r}: unet, latents or int8-dot-products")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
