"""What every full-size UNet benchmark feeds and how it times a step, in one place: seeded inputs at
batch 2 (classifier-free guidance), timestep 981, and the best of N runs after one warm-up. Imported by
the benchmark scripts (run as ``python benchmarks/NAME.py``, which puts this folder on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def unet_feeds(size: int, width: int = 768, unet_model: Path | None = None) -> dict[str, np.ndarray]:
    """Seeded UNet inputs for ``size`` x ``size`` pixels (latents size // 8) and text width ``width``; the
    timestep in the dtype ``unet_model`` declares (float32, as ortdiffusion and optimum export it, unless
    the model says int64, as older ortdiffusion exports do)."""
    rng = np.random.default_rng(0)
    timestep_dtype = np.float32
    if unet_model is not None:
        import onnx

        declared = {i.name: i.type.tensor_type.elem_type for i in onnx.load(str(unet_model), load_external_data=False).graph.input}
        timestep_dtype = np.int64 if declared.get("timestep") == onnx.TensorProto.INT64 else np.float32
    return {"sample": rng.standard_normal((2, 4, size // 8, size // 8), dtype=np.float32),
            "timestep": np.array([981, 981], dtype=timestep_dtype),
            "encoder_hidden_states": rng.standard_normal((2, 77, width), dtype=np.float32)}


def best_run_seconds(run: Callable[[], Any], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``run``, after one untimed warm-up call."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_gb() -> float:
    """This process's peak resident memory, as every benchmark here reports it: KiB / 1e6 (the unit of
    ``ru_maxrss`` / 1e6, kept so tables stay comparable). Read from VmHWM of /proc/self/status, the
    high-water mark of the process's own address space: ``ru_maxrss`` also counts the parent's memory at
    fork time when the parent was bigger, since Linux folds the forked copy's high-water mark in at exec."""
    from pathlib import Path

    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
