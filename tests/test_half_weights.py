"""float16 weight storage with float32 compute (``ortdiffusion quantize --precision fp16-weights``): the
weights are half the bytes, ONNX Runtime computes with them as float32 (bit-identical to the float32
graph holding the same rounded values), LoRAs and further conversions still work on such folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ortdiffusion as od
from ortdiffusion.model_folder import part_folder, save_model_files
from ortdiffusion.model_folder.half_weights import (
    FLOAT32_SUFFIX,
    restore_float32_weights,
    store_part_fp16,
    store_weights_fp16,
)
from ortdiffusion.models import default_lora_path, default_model_path
from ortdiffusion.quantization.precision import INT8_OPS_KEY, PRECISION_KEY, convert_precision

PROMPTS = ["a red circle on a blue background", "a white square on a green background"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-20)))


def _pictures(folder, lora=None, live=False) -> np.ndarray:
    pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    if live:
        pipe.enable_live_lora()
    if lora:
        pipe.load_lora_weights(lora, adapter_name="style")
    return pipe(PROMPTS, num_inference_steps=10, generator=0, output_type="np").images


def _small_model() -> onnx.ModelProto:
    """y = (x @ W) * scale + b, with W [4, 3], b [3] and a W2 too large for float16."""
    weights = [numpy_helper.from_array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), "W"),
               numpy_helper.from_array(np.full((3, 3), 1e6, dtype=np.float32), "W2"),
               numpy_helper.from_array(np.array([0.1, 0.2, 0.3], dtype=np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("MatMul", ["h", "W2"], ["h2"]),
             helper.make_node("Add", ["h2", "b"], ["y"])]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_only_matrices_within_float16_range_are_stored_half_and_the_layout_undoes():
    model = _small_model()
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert store_weights_fp16(model) == 1
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types == {"W": TensorProto.FLOAT16, "W2": TensorProto.FLOAT, "b": TensorProto.FLOAT}
    assert model.graph.node[0].op_type == "Cast" and model.graph.node[1].input[1] == "W" + FLOAT32_SUFFIX
    stored = _run(model, x)
    restored = onnx.ModelProto()
    restored.CopyFrom(model)
    assert restore_float32_weights(restored) == 1
    assert "Cast" not in [n.op_type for n in restored.graph.node] and restored.graph.node[0].input[1] == "W"
    w = numpy_helper.to_array(next(t for t in restored.graph.initializer if t.name == "W"))
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3).astype(np.float16))
    np.testing.assert_array_equal(stored, _run(restored, x))  # float32 compute on the rounded weights
    assert restore_float32_weights(_small_model()) == 0


def _float32_copy(folder, target):
    """A float32 copy of an fp16-weights folder (the same rounded values read directly, no Casts), made from
    its assembled parts (the shipped ones are packed: packed_weights.py)."""
    shutil.copytree(folder, target, ignore=lambda _, names: [n for n in names if (folder / n / "model.onnx").is_file()])
    for part in (p for p in folder.iterdir() if (p / "model.onnx").is_file()):
        shutil.copytree(part_folder(folder, part.name), target / part.name)
    for model_path in target.glob("*/model.onnx"):
        model = onnx.load(str(model_path), load_external_data=True)
        restore_float32_weights(model)
        (model_path.parent / "model.onnx_data").unlink(missing_ok=True)
        save_model_files(model, model_path.parent)
    index = json.loads((target / "model_index.json").read_text())
    del index[PRECISION_KEY]
    (target / "model_index.json").write_text(json.dumps(index))
    return target


@pytest.fixture(scope="module")
def half_folder(zoo, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp16w") / "model"
    report = convert_precision(zoo.exported("base"), out, "fp16-weights")
    return out, report


def test_fp16_weights_halve_the_files_and_keep_the_picture(half_folder, zoo):
    out, report = half_folder
    for part in ("unet", "vae_decoder", "vae_encoder", "text_encoder"):
        before, after = report.bytes[part]
        assert after < 0.65 * before, part
    index = json.loads((out / "model_index.json").read_text())
    assert index[PRECISION_KEY] == "fp16-weights" and INT8_OPS_KEY not in index
    reference, pictures = _pictures(zoo.exported("base")), _pictures(out)
    assert np.abs(pictures - reference).max() > 0
    assert _psnr(pictures, reference) >= 50.0


def test_shipped_model_is_fp16_weights():
    index = json.loads((default_model_path() / "model_index.json").read_text())
    assert index[PRECISION_KEY] == "fp16-weights"
    graph = onnx.load(str(default_model_path() / "unet" / "model.onnx"), load_external_data=False).graph
    assert sum(node.op_type == "Cast" and node.output[0].endswith(FLOAT32_SUFFIX) for node in graph.node) > 100


@pytest.fixture(scope="module")
def shipped_as_float32(tmp_path_factory):
    return _float32_copy(default_model_path(), tmp_path_factory.mktemp("fp32") / "default")


def test_float16_storage_computes_exactly_as_float32(shipped_as_float32):
    np.testing.assert_array_equal(_pictures(default_model_path()), _pictures(shipped_as_float32))


@pytest.mark.parametrize("live", [False, True], ids=["merge", "live"])
def test_loras_apply_to_fp16_weights(shipped_as_float32, live):
    lora = default_lora_path("outline")
    expected, got = _pictures(shipped_as_float32, lora, live), _pictures(default_model_path(), lora, live)
    assert _psnr(got, _pictures(default_model_path())) < 30.0  # the LoRA changes the picture...
    if live:  # ...in float32 buffers made from the same values: exactly as on float32 weights
        np.testing.assert_array_equal(got, expected)
    else:  # ...merged in float32, then rounded to the initializer's float16
        assert _psnr(got, expected) >= 45.0


def test_fp16_weights_folder_converts_further_but_not_twice(half_folder, tmp_path):
    out, _ = half_folder
    int8 = tmp_path / "int8"
    convert_precision(out, int8, "int8", parts=["unet"])
    ops = {n.op_type for n in onnx.load(str(int8 / "unet" / "model.onnx"), load_external_data=False).graph.node}
    assert "MatMulInteger" in ops  # MatMul weights were found behind the Casts (restored first)
    assert not any(p.name.startswith(".") for p in int8.iterdir())  # the float32 scratch copy is gone
    with pytest.raises(ValueError, match="already converted to fp16-weights"):
        convert_precision(out, tmp_path / "again", "fp16-weights")


def test_store_part_in_place(zoo, tmp_path):
    folder = tmp_path / "unet"
    shutil.copytree(zoo.exported("base") / "unet", folder)
    before = (folder / "model.onnx_data").stat().st_size
    assert store_part_fp16(folder) > 10
    assert (folder / "model.onnx_data").stat().st_size < 0.6 * before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert {i.name for i in session.get_inputs()} >= {"sample", "timestep", "encoder_hidden_states"}
