"""Per-step pipeline overhead: everything in a denoising step that is not model compute (scheduler, CFG
combine, casts and copies, Python), for ortdiffusion, optimum's ORT pipeline and diffusers, on the same
tiny model (tests/data/optimum-micro, exported by optimum-cli), side by side in one run.

    python benchmarks/pipeline_overhead.py --optimum-python /path/to/optimum-venv/bin/python

Method: every model call is timed (``onnxruntime.InferenceSession.run`` / ``run_with_iobinding`` for the
ORT pipelines, forward pre/post hooks for diffusers' torch modules). A call's overhead is its wall time
minus model time. Each pipeline runs at 10 and 60 steps; the per-step overhead is the slope
((T60 - M60) - (T10 - M10)) / 50, so per-call costs (tokenizing, decoding to PIL) cancel. Median of 7.
optimum pins transformers<4.58, so it runs in a subprocess with its own virtualenv (``--child optimum``).
Not part of CI."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "tests" / "data" / "optimum-micro"
STEPS = (10, 60)
REPEATS = 7
CALL = {"prompt": "a red circle on a blue background", "guidance_scale": 7.5, "height": 64, "width": 64}


class ModelClock:
    """Accumulated seconds spent inside model calls (reset per pipeline call)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Callable) -> Callable:
        """``function`` timed into this clock."""

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def clock_onnxruntime() -> ModelClock:
    """Time every ONNX Runtime session run in this process."""
    import onnxruntime as ort

    clock = ModelClock()
    ort.InferenceSession.run = clock.wrap(ort.InferenceSession.run)
    ort.InferenceSession.run_with_iobinding = clock.wrap(ort.InferenceSession.run_with_iobinding)
    return clock


def clock_torch_modules(modules: list) -> ModelClock:
    """Time the forward passes of ``modules`` (top-level calls only)."""
    clock = ModelClock()
    starts: list[float] = []
    for module in modules:
        module.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))

        def post(*_):
            clock.seconds += time.perf_counter() - starts.pop()

        module.register_forward_hook(post)
    return clock


def overhead_per_step(run: Callable[[int], None], clock: ModelClock) -> dict:
    """Median per-step overhead (ms) and the model time per step, from the slope between STEPS."""
    run(2)  # warm-up
    results = {}
    for steps in STEPS:
        samples = []
        for _ in range(REPEATS):
            clock.seconds = 0.0
            start = time.perf_counter()
            run(steps)
            total = time.perf_counter() - start
            samples.append((total - clock.seconds, clock.seconds))
        results[steps] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
    low, high = STEPS
    span = high - low
    return {
        "overhead_ms_per_step": (results[high][0] - results[low][0]) / span * 1e3,
        "model_ms_per_step": (results[high][1] - results[low][1]) / span * 1e3,
        "call_overhead_ms_at_10_steps": results[low][0] * 1e3,
    }


def measure_ortdiffusion() -> dict:
    import ortdiffusion as od

    clock = clock_onnxruntime()
    pipe = od.StableDiffusionPipeline.from_pretrained(MODEL)
    pipe.set_progress_bar_config(disable=True)
    return overhead_per_step(lambda n: pipe(**CALL, num_inference_steps=n, generator=0, output_type="np"), clock)


def measure_diffusers() -> dict:
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from tiny_models import build_micro_pipeline

    torch.set_num_threads(2)
    pipe = build_micro_pipeline()  # the same seeded weights optimum-micro was exported from
    pipe.set_progress_bar_config(disable=True)
    clock = clock_torch_modules([pipe.unet, pipe.vae, pipe.text_encoder])

    def run(n: int) -> None:
        with torch.no_grad():
            pipe(**CALL, num_inference_steps=n, generator=torch.Generator().manual_seed(0), output_type="np")

    return overhead_per_step(run, clock)


def measure_optimum() -> dict:
    from optimum.onnxruntime import ORTStableDiffusionPipeline

    clock = clock_onnxruntime()
    import torch

    pipe = ORTStableDiffusionPipeline.from_pretrained(MODEL)
    pipe.set_progress_bar_config(disable=True)

    def run(n: int) -> None:  # optimum-onnx wraps diffusers' pipelines: torch generators and tensors
        pipe(**CALL, num_inference_steps=n, generator=torch.Generator().manual_seed(0), output_type="np")

    return overhead_per_step(run, clock)


def main() -> int:
    """Measure the three pipelines and print a JSON summary with ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--optimum-python", type=Path, help="python of a virtualenv with optimum-onnx")
    parser.add_argument("--child", choices=["optimum"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_optimum()))
        return 0
    summary = {"ortdiffusion": measure_ortdiffusion(), "diffusers": measure_diffusers()}
    if args.optimum_python:
        out = subprocess.run([str(args.optimum_python), __file__, "--child", "optimum"], check=True,
                             capture_output=True, text=True)
        summary["optimum"] = json.loads(out.stdout.strip().splitlines()[-1])
    ours = summary["ortdiffusion"]["overhead_ms_per_step"]
    summary["ratios"] = {f"{name} / ortdiffusion": r["overhead_ms_per_step"] / ours
                         for name, r in summary.items() if name != "ortdiffusion"}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
