"""How close a UNet step is to what this machine's CPU can do: the floating-point work of one step of the
full-size SD 1.5 architecture UNet (batch 2, counted by torch's FlopCounterMode on meta tensors, so
nothing is computed), against the fp32 GEMM throughput ONNX Runtime reaches here on one large MatMul.
The ratio gives the step time at GEMM speed: a floor for fp32 on this machine, whatever the graph.

    python benchmarks/unet_flops.py [--sizes 256 512] [--step-256 S --step-512 S]

Pass measured step times (e.g. from attention_fused_vs_plain.py) to get the achieved fraction. Not part
of CI."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "ortdiffusion-bench"


def unet_flops(config_folder: Path, size: int, batch: int = 2) -> float:
    """FLOPs (multiply and add counted separately) of one UNet forward at ``size`` pixels (latents / 8)."""
    import torch
    from diffusers import UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    config = UNet2DConditionModel.load_config(config_folder)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config)
        sample = torch.empty(batch, 4, size // 8, size // 8)
        hidden = torch.empty(batch, 77, config["cross_attention_dim"])
        timestep = torch.tensor([981] * batch)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        unet(sample, timestep, encoder_hidden_states=hidden)
    return float(counter.get_total_flops())


def gemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of ONNX Runtime's CPU MatMul on n x n x n, best of ``repeats`` after a warm-up."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    session.run(None, feeds)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def main() -> int:
    """Print JSON: GFLOPs per step, the GEMM rate, the step time at that rate, and achieved fractions."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--unet-config", type=Path, default=CACHE / "sd15-random-diffusers" / "unet")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--step-256", type=float, help="measured step seconds at 256")
    parser.add_argument("--step-512", type=float, help="measured step seconds at 512")
    args = parser.parse_args()
    rate = gemm_gflops()
    summary: dict = {"gemm_gflops_per_s": rate}
    for size in args.sizes:
        flops = unet_flops(args.unet_config, size)
        row = {"gflops_per_step": flops / 1e9, "step_s_at_gemm_rate": flops / 1e9 / rate}
        measured = getattr(args, f"step_{size}", None)
        if measured:
            row.update(measured_step_s=measured, achieved_gflops_per_s=flops / 1e9 / measured,
                       fraction_of_gemm_rate=flops / 1e9 / measured / rate)
        summary[f"{size}x{size}"] = row
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
