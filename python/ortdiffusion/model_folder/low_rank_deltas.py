"""A fine-tuned part stored as low-rank differences to the part it was fine-tuned from.

The shipped inpainting UNet was fine-tuned from the base UNet throughout, so it shares no weight byte for
byte; but what fine-tuning changed in each weight matrix is close to low rank (the observation behind
LoRA, Hu et al. 2021, and behind extracting LoRAs from fine-tunes by SVD, as kohya's
``extract_lora_from_models.py`` does). Each such matrix is stored as the base's matrix plus a truncated
SVD of the difference (Eckart-Young: the best rank-r approximation in Frobenius norm):

    D = W_part - W_base,  reshaped to [out, in * kh * kw] for convolutions
    D ~= U_r S_r V_r^T = up @ down,   up = U_r sqrt(S_r)  [out, r],   down = sqrt(S_r) V_r^T  [r, in*kh*kw]
    W_part' = W_base + up @ down      (in float32, then the tensor's own type)

``up`` and ``down`` are stored as int8 with one scale per row (packed_weights.pack_tensor) in
``low_rank_deltas.safetensors`` as ``NAME::up`` / ``NAME::down`` (and their ``::scale``); the tensor
keeps its name, type and shape in model.onnx at the location ``DELTA_LOCATION``, and shared_weights.json
lists it under "low_rank" with the base it applies to (covered by that manifest's SHA-256)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion.model_folder.files import MODEL_FILE
from ortdiffusion.model_folder.packed_weights import SCALE_SUFFIX, pack_tensor, stored_dtype, unpack_tensor

DELTA_FILE = "low_rank_deltas.safetensors"
DELTA_LOCATION = "ortdiffusion-low-rank-delta"
FACTORS = ("::up", "::down")


def worth_factoring(shape: tuple[int, ...], rank: int) -> bool:
    """Whether rank-``rank`` factors of a weight of ``shape`` hold at most half its values (else the
    matrix is stored whole)."""
    if len(shape) < 2:
        return False
    rows, cols = shape[0], int(np.prod(shape[1:]))
    return rank * (rows + cols) * 2 <= rows * cols


def low_rank_factors(delta: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``up`` [out, r] and ``down`` [r, rest] with ``up @ down`` the best rank-``rank`` approximation of
    ``delta`` reshaped to [out, rest] (truncated SVD, singular values split evenly between the two)."""
    matrix = np.asarray(delta, dtype=np.float64).reshape(delta.shape[0], -1)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    r = min(rank, s.size)
    root = np.sqrt(s[:r])
    return (u[:, :r] * root).astype(np.float32), (root[:, None] * vt[:r]).astype(np.float32)


def energy_kept(delta: np.ndarray, rank: int) -> float:
    """The share of ``delta``'s squared Frobenius norm that its rank-``rank`` approximation keeps."""
    s = np.linalg.svd(np.asarray(delta, dtype=np.float64).reshape(delta.shape[0], -1), compute_uv=False)
    total = float(np.sum(s ** 2))
    return float(np.sum(s[:rank] ** 2)) / total if total else 1.0


def write_factors(part: Path, factors: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Store each tensor's (up, down) in ``part/DELTA_FILE``, packed to int8 with a scale per row."""
    from safetensors.numpy import save_file

    stored: dict[str, np.ndarray] = {}
    for name, pair in factors.items():
        for suffix, matrix in zip(FACTORS, pair):
            stored[name + suffix], stored[name + suffix + SCALE_SUFFIX] = pack_tensor(matrix, 0)
    save_file(stored, str(part / DELTA_FILE))


class LowRankDeltas:
    """The stored factors of one part, read once (validated by safetensors_file.read_safetensors)."""

    def __init__(self, part: Path) -> None:
        from ortdiffusion.safetensors_file import read_safetensors

        self.part = part
        self.tensors, _ = read_safetensors(part / DELTA_FILE)

    def _factor(self, name: str, suffix: str) -> np.ndarray:
        codes, scale = self.tensors.get(name + suffix), self.tensors.get(name + suffix + SCALE_SUFFIX)
        if codes is None or scale is None or codes.dtype != np.int8 or codes.ndim != 2 or scale.shape != (
                codes.shape[0], 1) or scale.dtype != np.float32:
            raise ValueError(f"{self.part / DELTA_FILE}: tensor {name!r} has no int8 matrix {name + suffix!r} with a "
                             "float32 scale per row; rebuild the part (scripts/build_default_model.py)")
        return unpack_tensor(codes, scale, np.dtype(np.float32))

    def apply(self, tensor: Any, base_bytes: bytes) -> bytes:
        """The little-endian bytes of ``tensor`` (a TensorProto marked at ``DELTA_LOCATION``): the base
        tensor's bytes ``base_bytes`` plus ``up @ down``, in the tensor's type. Raises ValueError naming the
        file and tensor when the factors are missing or do not fit its shape."""
        up, down = (self._factor(tensor.name, suffix) for suffix in FACTORS)
        shape = tuple(tensor.dims)
        if len(shape) < 2 or up.shape[0] != shape[0] or up.shape[1] != down.shape[0] \
                or down.shape[1] != int(np.prod(shape[1:])):
            raise ValueError(f"{self.part / DELTA_FILE}: factors {up.shape} @ {down.shape} of tensor {tensor.name!r} "
                             f"do not make its shape {shape} in {self.part / MODEL_FILE}")
        dtype = stored_dtype(tensor)
        base = np.frombuffer(base_bytes, dtype=dtype).reshape(shape).astype(np.float32)
        return np.ascontiguousarray((base + (up @ down).reshape(shape)).astype(dtype)).tobytes()
