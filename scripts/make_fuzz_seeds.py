"""Seed inputs for the initializer-reader fuzz target (cpp/fuzz/initializers_fuzz_target.cpp).

    python scripts/make_fuzz_seeds.py OUT_DIR            # small hand-built models + a .lora (a few KB each)
    python scripts/make_fuzz_seeds.py OUT_DIR --real     # also the shipped default model's real exports (~1.5 MB)

Each seed uses the target's input layout: a mode byte (0: read from memory; 1: a u32 length, model.onnx,
then model.onnx_data read from disk). The small seeds are every supported element type in raw and typed
fields, a model with external data, and a .lora file made for the default model by ``write_lora_file``.
Needs onnx and ml_dtypes (test dependencies); no torch."""

from __future__ import annotations

import argparse
import struct
import tempfile
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
from onnx import helper, numpy_helper

from ortdiffusion.lora.formats import parse_lora
from ortdiffusion.lora.lora_file import write_lora_file
from ortdiffusion.lora.targets import match_layers, module_targets
from ortdiffusion.model_folder import part_folder
from ortdiffusion.models import default_model_path

ARRAYS = {
    "float32": np.arange(6, dtype=np.float32).reshape(2, 3),
    "float16": np.array([0.5, -2.0], dtype=np.float16),
    "bfloat16": np.array([1.0, -3.5], dtype=ml_dtypes.bfloat16),
    "float64": np.array([1e-300, -2.0], dtype=np.float64),
    "int64": np.array([-(2**62), 7], dtype=np.int64),
    "int32": np.array([-(2**31), 5], dtype=np.int32),
    "int8": np.array([-128, 127], dtype=np.int8),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "bool": np.array([True, False]),
    "scalar": np.array(3.0, dtype=np.float32),
    "empty": np.zeros((0, 4), dtype=np.float32),
}


def memory_seed(model_bytes: bytes) -> bytes:
    """Mode 0: the model read from memory."""
    return b"\x00" + model_bytes


def external_seed(model_bytes: bytes, data_bytes: bytes) -> bytes:
    """Mode 1: model.onnx and model.onnx_data written beside each other and read from disk."""
    return b"\x01" + struct.pack("<I", len(model_bytes)) + model_bytes + data_bytes


def _model(tensors: list[onnx.TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph([], "seed", [], [helper.make_tensor_value_info("o", onnx.TensorProto.FLOAT, [1])], tensors)
    return helper.make_model(graph)


def typed_models() -> dict[str, bytes]:
    """Every element type once in raw_data and once in the typed fields."""
    raw = [numpy_helper.from_array(a, n) for n, a in ARRAYS.items()]
    typed = [helper.make_tensor(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape, a.flatten().tolist(), raw=False)
             for n, a in ARRAYS.items()]
    return {"types-raw": _model(raw).SerializeToString(), "types-typed": _model(typed).SerializeToString()}


def external_model() -> tuple[bytes, bytes]:
    """Two tensors in model.onnx_data (offsets 0 and 64) and one inline."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = _model([numpy_helper.from_array(np.arange(16, dtype=np.float32), "a"),
                        numpy_helper.from_array(np.ones((2, 3), dtype=np.float16), "b"),
                        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "inline")])
        onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True, location="model.onnx_data",
                        size_threshold=8, all_tensors_to_one_file=True)
        return (folder / "model.onnx").read_bytes(), (folder / "model.onnx_data").read_bytes()


def lora_file_bytes() -> bytes:
    """A rank-2 .lora for two attention projections of the shipped default model."""
    targets = module_targets(part_folder(default_model_path(), "unet"), "unet")  # the assembled (unpacked) part
    modules = sorted(m for m in targets if m.endswith(("attn1.to_q", "attn2.to_v")))[:2]
    rng = np.random.default_rng(0)
    tensors = {}
    for module in modules:
        shape = targets[module].shape[::-1] if targets[module].transposed else targets[module].shape
        tensors[f"unet.{module}.lora_A.weight"] = rng.standard_normal((2, shape[1])).astype(np.float32)
        tensors[f"unet.{module}.lora_B.weight"] = rng.standard_normal((shape[0], 2)).astype(np.float32)
    lora = parse_lora(tensors, {}, "seed")
    with tempfile.TemporaryDirectory() as scratch:
        path = write_lora_file(Path(scratch) / "seed.lora", {"unet": match_layers(lora, "unet", targets)})
        return path.read_bytes()


def real_models() -> dict[str, bytes]:
    """The default model's VAE encoder (every weight inline, read from memory) and UNet (external data), as
    assembled from the shipped packed files (what sessions read)."""
    vae_encoder, unet = (part_folder(default_model_path(), part) for part in ("vae_encoder", "unet"))
    inline = onnx.load(str(vae_encoder / "model.onnx"), load_external_data=True)  # its larger tensors are external
    return {
        "real-vae-encoder": memory_seed(inline.SerializeToString()),
        "real-unet-external": external_seed((unet / "model.onnx").read_bytes(), (unet / "model.onnx_data").read_bytes()),
    }


def main() -> int:
    """Write the seeds into OUT_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--real", action="store_true", help="add the default model's exports (large seeds)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = {name: memory_seed(data) for name, data in typed_models().items()}
    seeds["external"] = external_seed(*external_model())
    seeds["lora"] = memory_seed(lora_file_bytes())
    if args.real:
        seeds.update(real_models())
    for name, data in seeds.items():
        (args.out / f"seed-{name}").write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
