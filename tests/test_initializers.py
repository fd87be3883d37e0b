"""The zero-copy ONNX initializer reader: same tensors as onnx.numpy_helper, views that keep their mapping
alive, and a clean FormatError (never a crash) for malformed files and hostile external-data paths."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from ortdiffusion import ExternalDataError, FormatError, initializers
from ortdiffusion.model_folder import part_folder
from ortdiffusion.models import default_model_path

OPTIMUM_FIXTURE = Path(__file__).parent / "data" / "optimum-micro"


def _model(tensors: list[TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph([], "g", [], [], initializer=tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _assert_same_as_onnx(path: Path) -> None:
    ours = initializers.load(path)
    reference = onnx.load(str(path))
    expected = {t.name: numpy_helper.to_array(t, base_dir=str(path.parent)) for t in reference.graph.initializer}
    assert list(ours) == [t.name for t in reference.graph.initializer]
    for name, array in expected.items():
        got = ours[name]
        assert got.dtype == array.dtype and got.shape == array.shape, name
        np.testing.assert_array_equal(got, array, err_msg=name)


@pytest.mark.parametrize("part", ["unet", "text_encoder", "vae_decoder"])
def test_exported_models_match_onnx_numpy_helper(zoo, part):
    _assert_same_as_onnx(zoo.exported("base") / part / "model.onnx")


def test_fused_controlnet_export_with_external_data(zoo):
    path = zoo.exported("cn2") / "unet" / "model.onnx"
    _assert_same_as_onnx(path)
    loaded = initializers.load(path)
    assert loaded.is_external("unet.conv_in.weight")


def test_optimum_model_matches():
    _assert_same_as_onnx(OPTIMUM_FIXTURE / "unet" / "model.onnx")


def test_shipped_model_as_assembled_matches():
    """The shipped parts are packed (packed_weights.py); what sessions read is the assembled copy."""
    _assert_same_as_onnx(part_folder(default_model_path(), "text_encoder") / "model.onnx")


def test_a_packed_part_read_directly_is_refused_naming_the_tensor():
    path = default_model_path() / "unet" / "model.onnx"
    with pytest.raises(ExternalDataError, match="unet.conv_in.weight.*ortdiffusion-packed-weights"):
        initializers.load(path)


CASES = {
    "float32": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
    "float16": np.array([1.5, -2.0, 65504.0], dtype=np.float16),
    "bfloat16": np.array([1.0, -3.5, 1e20], dtype=ml_dtypes.bfloat16),
    "float64": np.array([[1e-300, -2.0]], dtype=np.float64),
    "int64": np.array([-(2**62), 0, 7], dtype=np.int64),
    "int32": np.array([-(2**31), 2**31 - 1], dtype=np.int32),
    "int8": np.array([-128, 0, 127], dtype=np.int8),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "bool": np.array([True, False, True]),
    "scalar": np.array(3.0, dtype=np.float32),
    "empty": np.zeros((0, 4), dtype=np.float32),
}


@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_fields"])
def test_every_supported_type_in_raw_and_typed_fields(tmp_path, raw):
    tensors = []
    for name, array in CASES.items():
        if raw:
            tensors.append(numpy_helper.from_array(array, name))
        else:
            onnx_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensors.append(helper.make_tensor(name, onnx_type, array.shape, array.flatten().tolist(), raw=False))
    path = tmp_path / "types.onnx"
    onnx.save(_model(tensors), str(path))
    _assert_same_as_onnx(path)
    loaded = initializers.load(path)
    assert str(loaded["bfloat16"].dtype) == "bfloat16"


def test_arrays_are_read_only_views_that_outlive_the_mapping(tmp_path):
    path = tmp_path / "w.onnx"
    weights = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    onnx.save(_model([numpy_helper.from_array(weights, "w")]), str(path))
    loaded = initializers.load(path)
    array = loaded["w"]
    assert not array.flags.writeable and not array.flags.owndata
    with pytest.raises(ValueError):
        array[0, 0] = 1.0
    del loaded
    gc.collect()
    os.unlink(path)  # the mapping survives the file's name too
    np.testing.assert_array_equal(array, weights)


def _valid_small_model() -> bytes:
    rng = np.random.default_rng(1)
    tensors = [numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "a"),
               helper.make_tensor("b", TensorProto.INT64, [2], [5, -6]),
               numpy_helper.from_array(np.array([1, 2], dtype=np.float16), "c")]
    return _model(tensors).SerializeToString()


def test_every_prefix_raises():
    """A cut inside the graph runs past the end of a length; a cut between fields loses opset_import."""
    data = _valid_small_model()
    assert len(initializers.load_bytes(data)) == 3
    for cut in range(len(data)):
        with pytest.raises(FormatError):
            initializers.load_bytes(data[:cut])


@pytest.mark.parametrize("part", ["vae_encoder", "unet"])
def test_prefixes_of_a_real_export_raise(part, tmp_path):
    """The shipped default model's files, cut at 400 points spread over the file and at every one of the
    last 300 bytes (where the graph's end and opset_import lie)."""
    from ortdiffusion.models import default_model_path

    data = (default_model_path() / part / "model.onnx").read_bytes()
    cuts = sorted(set(range(0, len(data), max(1, len(data) // 400))) | set(range(max(0, len(data) - 300), len(data))))
    for cut in cuts:
        with pytest.raises(FormatError):
            initializers.load_bytes(data[:cut], model_dir=tmp_path)


def _tensor_bytes(**fields) -> bytes:
    tensor = TensorProto()
    for key, value in fields.items():
        attr = getattr(tensor, key)
        if isinstance(value, list):
            attr.extend(value)
        else:
            setattr(tensor, key, value)
    return _model([tensor]).SerializeToString()


def _named(name: bytes) -> bytes:
    """A model whose one initializer has the raw bytes ``name`` as its name (field 8 of TensorProto)."""
    tensor = b"\x42" + bytes([len(name)]) + name
    initializer = b"\x2a" + bytes([len(tensor)]) + tensor
    return b"\x3a" + bytes([len(initializer)]) + initializer


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_named(b"w\xcd\x41"), "name is not valid UTF-8"),  # bad continuation byte (found by fuzzing)
        (_named(b"\xed\xa0\x80"), "name is not valid UTF-8"),  # a UTF-16 surrogate
        (_named(b"\xc0\x80"), "name is not valid UTF-8"),  # overlong NUL
        (_named(b"\xf4\x90\x80\x80"), "name is not valid UTF-8"),  # past U+10FFFF
        (_named(b"ok\xe2\x82"), "name is not valid UTF-8"),  # truncated sequence
        (_named("caf\u00e9\u20ac\U0001f600".encode()), "initializer .caf\u00e9\u20ac\U0001f600. at byte 4: no data_type"),  # valid UTF-8: named in the error
        (b"", "no graph"),
        (b"\x3a", "truncated varint"),  # graph tag, then nothing
        (b"\x3a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint"),
        (b"\x3a\x05\x2a\x10", "runs past the end"),
        (b"\x3b", "unsupported wire type 3"),
        (b"\x3a\x02\x2a\x00", "initializer without a name"),
        (_tensor_bytes(name="x", data_type=1, dims=[2], raw_data=b"\x00" * 7), "raw_data has 7 bytes"),
        (_tensor_bytes(name="x", data_type=1, dims=[-2], raw_data=b""), "negative dimension"),
        (_tensor_bytes(name="x", data_type=1, dims=[2**62, 2**62], raw_data=b""), "overflows"),
        (_tensor_bytes(name="x", data_type=8, dims=[1], string_data=[b"a"]), "not supported"),
        (_tensor_bytes(name="x", data_type=14, dims=[1], raw_data=b"\x00" * 8), "data type 14 is not supported"),
        (_tensor_bytes(name="x", data_type=1, dims=[3]), "no data for 3 elements"),
        (_tensor_bytes(name="x", data_type=3, dims=[1], int32_data=[300]), "out of range for int8"),
        (_tensor_bytes(name="x", data_type=1, dims=[1], float_data=[1.0], raw_data=b"\x00" * 4), "more than one"),
        (_tensor_bytes(name="x", data_type=1, dims=[2], float_data=[1.0]), "typed data has 4 bytes"),
    ],
)
def test_malformed_bytes_raise_format_error(data, match):
    with pytest.raises(FormatError, match=match):
        initializers.load_bytes(data)


def test_duplicate_names_are_refused():
    t = numpy_helper.from_array(np.zeros(2, np.float32), "w")
    with pytest.raises(FormatError, match="initializer 'w'.*duplicate initializer name"):
        initializers.load_bytes(_model([t, t]).SerializeToString())


def _external_tensor(location: str, offset: int = 0, length: int = 16, dims=(4,)) -> bytes:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims), data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return _model([tensor]).SerializeToString()


def _write_model(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(data)
    return path


def test_external_data_is_mapped_and_checked(tmp_path):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    values = np.arange(8, dtype=np.float32)
    (model_dir / "w.bin").write_bytes(values.tobytes())
    loaded = initializers.load(_write_model(model_dir, _external_tensor("w.bin", offset=16)))
    np.testing.assert_array_equal(loaded["w"], values[4:])
    assert loaded.is_external("w")
    with pytest.raises(ExternalDataError, match="runs past the end"):
        initializers.load(_write_model(model_dir, _external_tensor("w.bin", offset=24)))
    with pytest.raises(FormatError, match="external_data length 12 != 16"):
        initializers.load(_write_model(model_dir, _external_tensor("w.bin", length=12)))
    with pytest.raises(ExternalDataError, match="does not exist"):
        initializers.load(_write_model(model_dir, _external_tensor("missing.bin")))
    with pytest.raises(ExternalDataError, match="not allowed for in-memory"):
        initializers.load_bytes(_external_tensor("w.bin"))


@pytest.mark.parametrize(
    ("location", "match"),
    [("/etc/passwd", "is absolute"), ("../secret.bin", "'..' component"), ("sub/../../secret.bin", "'..' component"),
     ("link.bin", "outside the model's folder"), ("folder", "not a regular file")],
)
def test_hostile_external_locations_are_refused(tmp_path, location, match):
    model_dir = tmp_path / "m"
    (model_dir / "folder").mkdir(parents=True)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 64)
    (model_dir / "link.bin").symlink_to(secret)
    with pytest.raises(ExternalDataError, match=match):
        initializers.load(_write_model(model_dir, _external_tensor(location)))


def test_dotdot_inside_a_name_is_fine(tmp_path):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "a..b").write_bytes(np.ones(4, np.float32).tobytes())
    loaded = initializers.load(_write_model(model_dir, _external_tensor("a..b")))
    np.testing.assert_array_equal(loaded["w"], np.ones(4, np.float32))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_files_never_crash(data):
    original = bytearray(_valid_small_model())
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), min_size=1, max_size=8))
    for position, value in edits:
        original[position] = value
    cut = data.draw(st.integers(0, len(original)))
    try:
        result = initializers.load_bytes(bytes(original[:cut]))
    except FormatError:
        return
    for array in result.values():  # whatever parsed must be readable
        np.asarray(array).tobytes()
