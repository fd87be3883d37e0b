"""Hostile .safetensors headers are refused with the file and tensor named; valid files read like the
safetensors library reads them."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from ortdiffusion.errors import FormatError
from ortdiffusion.lora.formats import load_lora_file
from ortdiffusion.safetensors_file import check_header, read_safetensors


def write_raw(path, header: dict, buffer: bytes, header_len: int | None = None) -> None:
    """A safetensors file from a header dict and a byte buffer, with an optional lying header length."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if header_len is None else header_len) + text + buffer)


def two_tensors(a=(0, 16), b=(16, 40)) -> dict:
    return {
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": list(a)},
        "b": {"dtype": "F64", "shape": [3], "data_offsets": list(b)},
    }


def test_valid_file_reads_like_the_reference(tmp_path):
    tensors = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([1, 2], dtype=np.int64)}
    save_file(tensors, tmp_path / "ok.safetensors", metadata={"k": "v"})
    header = check_header(tmp_path / "ok.safetensors")
    assert {e.name for e in header.tensors} == {"x", "y"} and header.metadata == {"k": "v"}
    read, metadata = read_safetensors(tmp_path / "ok.safetensors")
    assert metadata == {"k": "v"}
    for name, value in tensors.items():
        np.testing.assert_array_equal(read[name], value)


def test_hand_written_valid_file(tmp_path):
    write_raw(tmp_path / "f.safetensors", two_tensors(), bytes(40))
    assert [e.name for e in check_header(tmp_path / "f.safetensors").tensors] == ["a", "b"]


@pytest.mark.parametrize(
    ("header", "buffer", "header_len", "match"),
    [
        (two_tensors(), bytes(40), 10**9, "exceeds the 100000000-byte limit"),
        (two_tensors(), bytes(40), 5000, "runs past the end"),
        (two_tensors(b=(8, 32)), bytes(32), None, "'b' overlaps tensor 'a'"),
        (two_tensors(b=(16, 48)), bytes(40), None, "'b': data_offsets \\[16, 48\\] lie outside the 40-byte buffer"),
        (two_tensors(b=(20, 44)), bytes(44), None, "unindexed bytes \\[16, 20\\) before tensor 'b'"),
        (two_tensors(), bytes(48), None, "8 bytes after the last tensor"),
        (two_tensors(b=(16, 32)), bytes(32), None, "'b': 16 bytes for shape \\[3\\] of F64 \\(needs 24\\)"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b"", None, "non-negative"),
        ({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}}, b"x", None, "unknown or unsupported dtype"),
        ({"a": {"dtype": "F32", "shape": [1]}}, bytes(4), None, "exactly dtype, shape and data_offsets"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, bytes(4), None, "must be \\[begin, end\\]"),
        ({"__metadata__": {"k": 1}}, b"", None, "map strings to strings"),
    ],
)
def test_hostile_headers_are_refused_naming_file_and_tensor(tmp_path, header, buffer, header_len, match):
    path = tmp_path / "bad.safetensors"
    write_raw(path, header, buffer, header_len)
    with pytest.raises(FormatError, match=match) as info:
        read_safetensors(path)
    assert str(path) in str(info.value)


def test_not_json_duplicate_keys_and_short_files(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(FormatError, match="not valid UTF-8 JSON"):
        check_header(path)
    text = b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0")
    with pytest.raises(FormatError, match="duplicate keys \\['a'\\]"):
        check_header(path)
    path.write_bytes(struct.pack("<Q", 2) + b"[]")
    with pytest.raises(FormatError, match="must be a JSON object"):
        check_header(path)
    path.write_bytes(b"abc")
    with pytest.raises(FormatError, match="too short"):
        check_header(path)
    with pytest.raises(FileNotFoundError):
        check_header(tmp_path / "absent.safetensors")


def test_lora_loading_goes_through_the_checks(tmp_path):
    path = tmp_path / "lora.safetensors"
    write_raw(path, {"lora_unet_x.lora_down.weight": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 256]}}, bytes(64))
    with pytest.raises(FormatError, match="lora_unet_x.lora_down.weight"):
        load_lora_file(path)


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("st") / "seed.safetensors"
    save_file({"w": np.ones((3, 4), np.float32), "b": np.zeros(5, np.float16)}, path, metadata={"m": "1"})
    return path.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_never_crash(tmp_path, valid_bytes, data):
    """Any byte edit or truncation either still reads or raises FormatError; nothing else escapes."""
    raw = bytearray(valid_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "m.safetensors"
    path.write_bytes(bytes(raw[:cut]))
    try:
        read_safetensors(path)
    except FormatError:
        pass
