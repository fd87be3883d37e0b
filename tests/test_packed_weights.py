"""int8 packing of a part's weights for shipping (packed_weights.py): the codec's error bound and channel
axes, packed parts assembled into the cache with exactly the decoded values, a variant sharing weights
with a packed base, clear errors for a damaged packed file, and the shipped models stored packed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

import ortdiffusion as od
from ortdiffusion.model_folder import part_folder
from ortdiffusion.model_folder.packed_weights import (
    MANIFEST,
    PACKED_FILE,
    SCALE_SUFFIX,
    channel_axis,
    pack_tensor,
    pack_weights,
    unpack_tensor,
)
from ortdiffusion.model_folder.shared_weights import share_weights
from ortdiffusion.models import default_model_path
from ortdiffusion.safetensors_file import read_safetensors


def _initializers(folder) -> dict[str, np.ndarray]:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_codes_are_within_half_a_step_of_each_channel(axis):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((6, 5, 3)).astype(np.float32) * rng.uniform(0.01, 10, (6, 1, 1)).astype(np.float32)
    values[2] = 0.0  # an all-zero slice along axis 0
    codes, scale = pack_tensor(values, axis)
    expected_shape = [1, 1, 1]
    expected_shape[axis] = values.shape[axis]
    assert codes.dtype == np.int8 and scale.dtype == np.float32 and list(scale.shape) == expected_shape
    assert np.abs(codes).max() == 127 and codes.min() >= -127
    decoded = unpack_tensor(codes, scale, np.dtype(np.float32))
    assert np.all(np.abs(decoded - values) <= scale / 2 * (1 + 1e-6))
    if axis == 0:
        assert scale[2, 0, 0] == 0 and not decoded[2].any()
    assert unpack_tensor(codes, scale, np.dtype(np.float16)).dtype == np.float16


def test_the_channel_axis_is_the_output_channel_of_the_weight_reader():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("MatMul", ["x", "matmul_w"], ["a"]),
        helper.make_node("Cast", ["half_w"], ["half_w::fp32"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["a", "half_w::fp32"], ["b"]),
        helper.make_node("Gemm", ["b", "gemm_w"], ["c"], transB=1),
        helper.make_node("Gemm", ["c", "gemm_plain"], ["d"]),
        helper.make_node("Conv", ["d", "conv_w"], ["e"]),
        helper.make_node("ConvTranspose", ["e", "deconv_w"], ["f"]),
        helper.make_node("Gather", ["table", "x"], ["g"]),
        helper.make_node("Transpose", ["linear_w"], ["linear_w_t"], perm=[1, 0]),  # a Linear: [out, in]
        helper.make_node("MatMul", ["g", "linear_w_t"], ["h"]),
        helper.make_node("Cast", ["half_linear"], ["half_linear::fp32"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["half_linear::fp32"], ["half_linear_t"]),  # default perm: reversed
        helper.make_node("MatMul", ["h", "half_linear_t"], ["i"]),
    ]
    ranks = {"matmul_w": 2, "half_w": 2, "gemm_w": 2, "gemm_plain": 2, "conv_w": 4, "deconv_w": 4, "table": 2,
             "linear_w": 2, "half_linear": 2}
    weights = [helper.make_tensor(name, TensorProto.FLOAT, [2] * rank, [0.0] * 2 ** rank) for name, rank in ranks.items()]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [], weights))
    axes = {name: channel_axis(model, name) for name in [*ranks, "unused"]}
    assert axes == {"matmul_w": 1, "half_w": 1, "gemm_w": 0, "gemm_plain": 1, "conv_w": 0, "deconv_w": 1,
                    "table": 0, "linear_w": 0, "half_linear": 0, "unused": 0}


@pytest.fixture
def packed_base(zoo, tmp_path):
    """A copy of the tiny base export with its UNet packed; returns (packed folder, original folder)."""
    folder = tmp_path / "base"
    shutil.copytree(zoo.exported("base"), folder)
    return folder, zoo.exported("base")


def test_packed_part_is_smaller_and_assembles_to_the_decoded_values(packed_base, optimized_graph_cache):
    folder, original = packed_base
    before = (folder / "unet" / "model.onnx_data").stat().st_size
    count = pack_weights(folder / "unet")
    manifest = json.loads((folder / "unet" / MANIFEST).read_text())
    assert count == len(manifest["tensors"]) > 20 and manifest["format"] == "int8-per-channel"
    stored = sum(p.stat().st_size for p in (folder / "unet").iterdir() if p.name.startswith("model.onnx_data")
                 or p.name == PACKED_FILE)
    assert stored < 0.35 * before  # float32 -> int8 plus scales
    assembled = part_folder(folder, "unet")
    assert assembled.parent.parent == optimized_graph_cache / "assembled"
    assert (assembled / "weights_map.json").is_file() and not (assembled / PACKED_FILE).exists()
    model = onnx.load(str(original / "unet" / "model.onnx"))
    values, decoded = _initializers(original / "unet"), _initializers(assembled)
    assert values.keys() == decoded.keys()
    for name, value in values.items():
        if name in manifest["tensors"]:
            codes, scale = pack_tensor(value, channel_axis(model, name))
            np.testing.assert_array_equal(decoded[name], unpack_tensor(codes, scale, value.dtype), err_msg=name)
        else:
            np.testing.assert_array_equal(decoded[name], value, err_msg=name)


def test_packed_model_draws_nearly_the_same_picture(packed_base):
    folder, original = packed_base
    for part in ("unet", "text_encoder", "vae_decoder"):
        pack_weights(folder / part)

    def picture(path):
        pipe = od.StableDiffusionPipeline.from_pretrained(path)
        pipe.set_progress_bar_config(disable=True)
        return pipe("a red circle", num_inference_steps=3, height=32, width=32, generator=0, output_type="np").images

    packed, exact = picture(folder), picture(original)
    assert not np.array_equal(packed, exact)  # the rounding is real ...
    assert np.abs(packed - exact).max() < 0.05  # ... and small (random tiny weights: measured 1e-3 to 1e-2)


def test_non_finite_tensors_stay_unpacked_and_a_part_with_nothing_to_pack_is_left_alone(tmp_path):
    from ortdiffusion.model_folder import save_model_files

    folder = tmp_path / "m" / "part"
    folder.mkdir(parents=True)
    mask = np.triu(np.full((16, 16), -np.inf, dtype=np.float32), 1)  # an attention mask: -inf above the diagonal
    nodes = [helper.make_node("Add", ["x", "mask"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 16])],
                              [numpy_helper.from_array(mask, "mask")])
    save_model_files(helper.make_model(graph), folder)
    before = sorted(p.name for p in folder.iterdir())
    assert pack_weights(folder) == 0
    assert sorted(p.name for p in folder.iterdir()) == before and part_folder(folder.parent, "part") == folder


def test_a_tensor_at_the_limit_of_its_type_stays_unpacked(tmp_path):
    # A causal mask filled with float32's lowest value is finite, but 127 * (max / 127) rounds past the
    # largest float32: packed, it would decode to -inf (and the attention to NaN).
    from ortdiffusion.model_folder import save_model_files

    folder = tmp_path / "m" / "part"
    folder.mkdir(parents=True)
    lowest = np.float32(np.finfo(np.float32).min)
    mask = np.triu(np.full((16, 16), lowest, dtype=np.float32), 1)
    weight = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "mask"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 16])],
                              [numpy_helper.from_array(mask, "mask"), numpy_helper.from_array(weight, "w")])
    save_model_files(helper.make_model(graph), folder)
    assert pack_weights(folder) == 1  # the weight only
    assert json.loads((folder / "packed_weights.json").read_text())["tensors"] == ["w"]
    assembled = _initializers(part_folder(folder.parent, "part"))
    np.testing.assert_array_equal(assembled["mask"], mask)
    assert np.abs(assembled["w"] - weight).max() <= np.abs(weight).max() / 127 / 2 * 1.001


def test_a_repacked_file_of_the_same_size_and_time_gets_a_new_assembled_entry(packed_base):
    import os

    folder, _ = packed_base
    pack_weights(folder / "vae_decoder")
    first = part_folder(folder, "vae_decoder")
    packed = folder / "vae_decoder" / PACKED_FILE
    stat = packed.stat()
    tensors, _ = read_safetensors(packed)
    name = json.loads((folder / "vae_decoder" / MANIFEST).read_text())["tensors"][0]
    tensors[name] = -tensors[name]  # same size, other values
    save_file(tensors, str(packed))
    os.utime(packed, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as cp -p, rsync -a or tar would keep it
    assert packed.stat().st_size == stat.st_size
    second = part_folder(folder, "vae_decoder")
    assert second != first
    np.testing.assert_array_equal(_initializers(second)[name], -_initializers(first)[name])


def test_a_variant_shares_the_decoded_weights_of_a_packed_base(packed_base, zoo, tmp_path):
    folder, original = packed_base
    pack_weights(folder / "unet")
    plain, fused = tmp_path / "plain", tmp_path / "fused"
    shutil.copytree(zoo.exported("cn1"), plain)
    shutil.copytree(zoo.exported("cn1"), fused)
    only_unpacked = share_weights(plain / "unet", folder / "unet")  # biases and norms: not packed, still equal
    count = share_weights(fused / "unet", folder / "unet", compare_with=original / "unet")
    assert count > only_unpacked + 20  # the packed matrices too
    pack_weights(fused / "unet")
    assembled, base = _initializers(part_folder(fused, "unet")), _initializers(part_folder(folder, "unet"))
    manifest = json.loads((fused / "unet" / "shared_weights.json").read_text())
    for name in manifest["tensors"]:
        np.testing.assert_array_equal(assembled[name], base[name], err_msg=name)


def test_a_damaged_packed_file_is_refused_with_the_tensor_named(packed_base):
    folder, _ = packed_base
    pack_weights(folder / "unet")
    tensors, _ = read_safetensors(folder / "unet" / PACKED_FILE)
    victim = json.loads((folder / "unet" / MANIFEST).read_text())["tensors"][0]
    del tensors[victim + SCALE_SUFFIX]
    save_file(tensors, str(folder / "unet" / PACKED_FILE))
    with pytest.raises(ValueError, match=f"tensor '{victim}' is marked packed but .*lacks it"):
        part_folder(folder, "unet")
    manifest = json.loads((folder / "unet" / MANIFEST).read_text())
    (folder / "unet" / MANIFEST).write_text(json.dumps({**manifest, "format": "int4"}))
    with pytest.raises(ValueError, match="unknown packing format 'int4'"):
        part_folder(folder, "unet")
    with pytest.raises(ValueError, match="is already packed"):
        pack_weights(folder / "unet")


def test_shipped_models_are_packed():
    # the variants pack only what they do not store as low-rank deltas (test_low_rank_deltas.py)
    for task, at_least in (("text2img", 100), ("inpaint", 20), ("controlnet", 20)):
        unet = default_model_path(task) / "unet"
        manifest = json.loads((unet / MANIFEST).read_text())
        assert len(manifest["tensors"]) > at_least and (unet / PACKED_FILE).stat().st_size < 2_000_000
        assert part_folder(default_model_path(task), "unet") != unet
    for part in ("text_encoder", "vae_encoder", "vae_decoder"):
        assert (default_model_path() / part / MANIFEST).is_file()
