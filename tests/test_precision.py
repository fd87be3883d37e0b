"""``ortdiffusion quantize``: int8 and fp16 copies of an exported folder run in the same pipelines and give
nearly the same pictures (PSNR against float32 on the same seeds), with the conversion really done (int8
ops, float16 weights), and LoRAs refused on them with a clear message."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import ortdiffusion as od
from ortdiffusion.cli import main as cli_main
from ortdiffusion.models import default_lora_path, default_model_path
from ortdiffusion.precision import PRECISION_KEY, convert_precision, folder_precision

PROMPTS = ["a red circle on a blue background", "a white square on a green background"]
# Measured on the shipped default model (2026-11-25), 4 prompts x 2 seeds: int8 68.6 dB, fp16 70.3 dB.
MIN_PSNR = 40.0


def _pictures(folder) -> np.ndarray:
    pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return np.concatenate([pipe(PROMPTS, num_inference_steps=10, generator=s, output_type="np").images for s in (0, 1)])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-20)))


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return _pictures(default_model_path())


@pytest.fixture(scope="module")
def int8_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model"
    convert_precision(default_model_path(), out, "int8")
    return out


def test_int8_quantizes_matmuls_and_keeps_the_picture(int8_folder, reference):
    graph = onnx.load(str(int8_folder / "unet" / "model.onnx"), load_external_data=False).graph
    ops = {node.op_type for node in graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    assert folder_precision(int8_folder) == "int8"
    pictures = _pictures(int8_folder)
    assert np.abs(pictures - reference).max() > 0  # the conversion changed the numbers...
    assert _psnr(pictures, reference) >= MIN_PSNR  # ...but not the picture


def test_fp16_stores_half_weights_and_keeps_the_picture(tmp_path, reference):
    out = tmp_path / "fp16"
    report = convert_precision(default_model_path(), out, "fp16")
    model = onnx.load(str(out / "unet" / "model.onnx"), load_external_data=False)
    dtypes = {t.data_type for t in model.graph.initializer if len(t.dims) > 1}
    assert dtypes == {onnx.TensorProto.FLOAT16}
    assert report.bytes["unet"][1] < 0.6 * report.bytes["unet"][0]
    assert _psnr(_pictures(out), reference) >= MIN_PSNR


def test_lora_on_a_converted_folder_is_refused(int8_folder):
    pipe = od.StableDiffusionPipeline.from_pretrained(int8_folder)
    with pytest.raises(ValueError, match="int8 weights.*float32 export"):
        pipe.load_lora_weights(default_lora_path("outline"))


def test_refuses_bad_requests(tmp_path, int8_folder):
    with pytest.raises(ValueError, match="precision must be one of"):
        convert_precision(default_model_path(), tmp_path / "x", "int4")
    with pytest.raises(ValueError, match="already converted to int8"):
        convert_precision(int8_folder, tmp_path / "y", "fp16")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_precision(default_model_path(), int8_folder, "int8")
    with pytest.raises(FileNotFoundError, match="no model_index.json"):
        convert_precision(tmp_path, tmp_path / "z")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_variant_folder_becomes_standalone(tmp_path):
    """The shipped ControlNet variant takes its VAE and text encoder from ../default; the copy holds them."""
    out = tmp_path / "canny-int8"
    convert_precision(default_model_path("controlnet"), out, "int8", parts=["unet"])
    index = json.loads((out / "model_index.json").read_text())
    assert index[PRECISION_KEY] == "int8" and "_ortdiffusion_parts_from" not in index
    assert (out / "vae_decoder" / "model.onnx").is_file() and (out / "text_encoder" / "model.onnx").is_file()
    pipe = od.StableDiffusionControlNetPipeline.from_pretrained(out)
    assert pipe.components.num_controlnets == 1


def test_cli_quantize(tmp_path, capsys):
    out = tmp_path / "q"
    assert cli_main(["quantize", "--model", str(default_model_path()), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "unet:" in printed and f"wrote {out}" in printed
    assert folder_precision(out) == "int8"
