"""Reading .safetensors files people download (LoRAs, ControlNet weights) without trusting them.

The safetensors format (https://github.com/huggingface/safetensors, "Format" in its README): 8 bytes
little-endian header length N, then N bytes of UTF-8 JSON (``{name: {"dtype", "shape", "data_offsets":
[begin, end]}, "__metadata__": {str: str}}``, possibly padded with spaces), then the byte buffer the
offsets index. :func:`check_header` validates every field against the file's size before any tensor is
read: header length (at most 100 MB, as the reference library allows), JSON shape, known dtypes,
non-negative shapes, offsets inside the buffer, ``end - begin == prod(shape) * itemsize``, no overlap and
no hole (the buffer must be indexed entirely, which rules out polyglot files). Errors are
:class:`~ortdiffusion.errors.FormatError` naming the file and the tensor. Nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortdiffusion.errors import FormatError

MAX_HEADER_BYTES = 100_000_000  # safetensors' own MAX_HEADER_SIZE
# bytes per element of each safetensors dtype (F4/F6 packed types are not read here)
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's header entry: dtype name, shape and its [begin, end) in the byte buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: the tensors (in buffer order), the metadata and where the buffer starts."""

    path: Path
    tensors: tuple[TensorEntry, ...]
    metadata: dict[str, str]
    buffer_start: int


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        raise FormatError(f"duplicate keys {duplicated[:5]}")
    return dict(pairs)


def _entry(file: Path, name: str, value: object, buffer_size: int) -> TensorEntry:
    where = f"{file}: safetensors tensor {name!r}"
    if not isinstance(value, dict) or set(value) - {"dtype", "shape", "data_offsets"} or len(value) != 3:
        raise FormatError(f"{where}: entry must have exactly dtype, shape and data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if dtype not in DTYPE_SIZES:
        raise FormatError(f"{where}: unknown or unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise FormatError(f"{where}: shape {shape!r} must be a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        raise FormatError(f"{where}: data_offsets {offsets!r} must be [begin, end]")
    begin, end = offsets
    if not 0 <= begin <= end <= buffer_size:
        raise FormatError(f"{where}: data_offsets [{begin}, {end}] lie outside the {buffer_size}-byte buffer")
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if end - begin != expected:
        raise FormatError(f"{where}: {end - begin} bytes for shape {shape} of {dtype} (needs {expected})")
    return TensorEntry(name, dtype, tuple(shape), begin, end)


def check_header(path: str | os.PathLike) -> SafetensorsHeader:
    """Read and validate the header of a .safetensors file against the file's size (see the module
    docstring); raises FormatError naming the file and tensor, FileNotFoundError when absent."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no safetensors file at {str(file)!r}")
    size = file.stat().st_size
    with file.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise FormatError(f"{file}: {size} bytes is too short for a safetensors file (8-byte header length missing)")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > MAX_HEADER_BYTES:
            raise FormatError(f"{file}: safetensors header of {header_len} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")
        if header_len > size - 8:
            raise FormatError(f"{file}: safetensors header of {header_len} bytes runs past the end of the {size}-byte file")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except FormatError as e:
        raise FormatError(f"{file}: safetensors header has {e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FormatError(f"{file}: safetensors header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{file}: safetensors header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise FormatError(f"{file}: safetensors __metadata__ must map strings to strings")
    buffer_start = 8 + header_len
    buffer_size = size - buffer_start
    entries = sorted((_entry(file, name, value, buffer_size) for name, value in header.items()), key=lambda e: (e.begin, e.end))
    position, previous = 0, None
    for entry in entries:
        if entry.begin < position:
            raise FormatError(f"{file}: safetensors tensor {entry.name!r} overlaps tensor {previous!r} "
                              f"(bytes [{entry.begin}, {entry.end}) start before {position})")
        if entry.begin > position:
            raise FormatError(f"{file}: safetensors buffer has unindexed bytes [{position}, {entry.begin}) before "
                              f"tensor {entry.name!r}")
        position, previous = entry.end, entry.name
    if position != buffer_size:
        raise FormatError(f"{file}: safetensors buffer has {buffer_size - position} bytes after the last tensor")
    return SafetensorsHeader(file, tuple(entries), dict(metadata), buffer_start)


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors (numpy) and metadata of a .safetensors file whose header passed :func:`check_header`; read
    by the safetensors library without torch. Errors name the file."""
    from safetensors import safe_open

    header = check_header(path)
    try:
        with safe_open(str(header.path), framework="np") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not a Mapping
    except Exception as e:  # SafetensorError for anything the checks above did not catch
        raise FormatError(f"cannot read {header.path} as safetensors: {e}") from e
    return tensors, header.metadata
