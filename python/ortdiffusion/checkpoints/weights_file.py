"""Opening a downloaded weights file: pickles refused, a missing file or another format said plainly, then the
tensors read by the checked safetensors reader (numpy, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ortdiffusion.checkpoints.pickles import refuse_pickle


def read_weights_file(path: Path, what: str) -> dict[str, np.ndarray]:
    """The tensors of the .safetensors file ``path`` (``what`` it should hold names it in every message):
    ValueError for a pickle or another format, FileNotFoundError when it is missing, FormatError when broken."""
    from ortdiffusion.safetensors_file import read_safetensors

    refuse_pickle(path, what)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file at {str(path)!r}")
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"{path}: {what} files are read as .safetensors")
    tensors, _ = read_safetensors(path)
    return tensors
