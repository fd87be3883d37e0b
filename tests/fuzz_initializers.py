"""Python-level fuzz target (atheris) over ``ortdiffusion.initializers``: the same input layout as the
libFuzzer target cpp/fuzz/initializers_fuzz_target.cpp, but through the bindings, where tensor names
become str and arrays become numpy views (a bad UTF-8 name was found here). See docs/hardening.md, "Fuzzing":

    pip install atheris     # the [fuzz] extra
    python tests/fuzz_initializers.py CORPUS_DIR tests/data/fuzz/initializers -max_total_time=300

Anything other than FormatError escaping is a finding; libFuzzer writes the input to crash-<sha1>."""

from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path

import numpy as np


def replay(data: bytes, scratch: Path):
    """Decode the fuzz layout (byte 0 even: an ONNX model from memory; odd: a u32 length, model.onnx,
    then model.onnx_data, both written to ``scratch`` and read from disk) and read the initializers,
    touching every byte. Returns the mapping, or None for empty input."""
    from ortdiffusion import initializers

    if not data:
        return None
    if data[0] % 2 == 0:
        tensors = initializers.load_bytes(data[1:])
    else:
        length = struct.unpack("<I", (data[1:5] + bytes(4))[:4])[0]
        body = data[5:]
        length = min(length, len(body))
        (scratch / "model.onnx").write_bytes(body[:length])
        (scratch / "model.onnx_data").write_bytes(body[length:])
        tensors = initializers.load(scratch / "model.onnx")
    for name in tensors:
        array = tensors[name]
        if array.flags.writeable:
            raise AssertionError(f"initializer {name!r} is writeable")
        np.asarray(array).tobytes()
    return tensors


def main() -> None:
    """Run atheris over :func:`replay`, FormatError counting as a clean refusal."""
    import atheris

    from ortdiffusion import initializers  # noqa: F401 - loaded before instrumenting
    from ortdiffusion.errors import FormatError

    # Python coverage only (the C++ reader's coverage guides the libFuzzer target, not this one): the
    # numpy views, dtype handling and name conversion in the bindings' callers.
    atheris.instrument_all()
    scratch = Path(tempfile.mkdtemp(prefix="ortdiffusion-atheris-"))

    @atheris.instrument_func
    def one_input(data: bytes) -> None:
        try:
            replay(data, scratch)
        except FormatError:
            pass

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
