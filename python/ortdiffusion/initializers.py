"""Zero-copy access to the initializers (weights) of ONNX files.

:func:`load` memory-maps the file and any external-data files and returns a read-only mapping from
initializer name to a numpy array that *views* the mapped bytes; nothing is copied except tensors stored
in protobuf's varint fields (rare: small int64/int32 constants). Each array's ``base`` keeps its mapping
alive, so arrays stay valid after the mapping object is gone. Malformed files raise
:class:`ortdiffusion.FormatError` (``ExternalDataError`` for refused external-data locations) naming the file,
the tensor and the byte offset."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from ortdiffusion import _native


def _as_dtype(array: np.ndarray, type_name: str) -> np.ndarray:
    if type_name == "bfloat16":  # the native side returns the bit patterns as uint16
        import ml_dtypes

        return array.view(ml_dtypes.bfloat16)
    return array


class Initializers(Mapping):
    """Read-only mapping ``name -> numpy array`` (in file order) over one ONNX file's initializers."""

    def __init__(self, entries: list, source: str) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._external: dict[str, bool] = {}
        for name, array, type_name, external in entries:
            self._arrays[name] = _as_dtype(array, type_name)
            self._external[name] = bool(external)
        self.source = source

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __repr__(self) -> str:
        return f"Initializers({self.source!r}, {len(self)} tensors)"

    def is_external(self, name: str) -> bool:
        """Whether ``name``'s bytes live in an external-data file."""
        return self._external[name]

    @property
    def nbytes(self) -> int:
        """Total size of all tensors in bytes."""
        return sum(a.nbytes for a in self._arrays.values())


def load(path: str | os.PathLike) -> Initializers:
    """The initializers of the ONNX file at ``path`` as zero-copy read-only arrays (see module docs)."""
    source = str(Path(path))
    return Initializers(_native.read_initializers(source), source)


def load_bytes(data: bytes, model_dir: str | os.PathLike | None = None, name: str = "<bytes>") -> Initializers:
    """The initializers of an ONNX model held in ``data`` (copied once into native memory). External data is
    allowed only when ``model_dir`` says where to resolve it."""
    folder = "" if model_dir is None else str(Path(model_dir))
    return Initializers(_native.read_initializers_from_bytes(bytes(data), name, folder), name)
