"""Textual-inversion embeddings as people publish them, read without unpickling anything:

- diffusers' ``learned_embeds.safetensors`` (one tensor, named after its token; diffusers' textual_inversion
  training script), as a file or in a folder;
- AUTOMATIC1111 / kohya safetensors: ``emb_params`` [n, width] (kohya's and AUTOMATIC1111's safetensors
  saves) or ``string_to_param.*`` (AUTOMATIC1111's .pt layout, flattened); their trigger word is the file's
  stem, AUTOMATIC1111's rule, unless a token is given;
- a state dict in memory (diffusers' ``{token: tensor}``, AUTOMATIC1111's ``{"name": ..., "string_to_param":
  {"*": tensor}}``) or a bare tensor with its token, numpy or torch.

A vector [width] or a matrix [n, width]; n > 1 is a multi-vector embedding, whose tokens are ``token``,
``token_1`` ... ``token_{n-1}`` (diffusers' ``_extend_tokens_and_embeddings``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion._arrays import is_torch_tensor
from ortdiffusion.checkpoints.weights_file import read_weights_file

DIFFUSERS_FILE = "learned_embeds.safetensors"  # diffusers' TEXT_INVERSION_NAME_SAFE
KOHYA_KEY = "emb_params"
A1111_KEY = "string_to_param"


@dataclass(frozen=True)
class TextualInversion:
    """One embedding: its trigger ``token``, ``vectors`` float32 [n, width] and where it came from."""

    token: str
    vectors: np.ndarray
    source: str

    @property
    def tokens(self) -> list[str]:
        """The tokens its vectors are added as: ``token``, ``token_1`` ... (diffusers' multi-vector names)."""
        return [self.token] + [f"{self.token}_{i}" for i in range(1, len(self.vectors))]


def _as_array(value: Any, where: str) -> np.ndarray:
    if is_torch_tensor(value):
        value = value.detach().cpu().float().numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise ValueError(f"{where}: expected a floating-point tensor, got {type(value).__name__}")
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{where}: an embedding is [width] or [vectors, width], got shape {tuple(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: the embedding holds NaN or infinite values")
    return array


def _from_state_dict(state: Mapping[str, Any], where: str, stem: str | None) -> tuple[str | None, Any]:
    """(loaded token or None, tensor) of a state dict in one of the layouts of the module docstring."""
    keys = list(state)
    if not keys:
        raise ValueError(f"{where} holds no tensors: not a textual-inversion embedding")
    if A1111_KEY in state and isinstance(state[A1111_KEY], Mapping):  # AUTOMATIC1111's dict (from memory)
        name = state.get("name")
        return (name if isinstance(name, str) else stem), next(iter(state[A1111_KEY].values()))
    tensors = [k for k in keys if k == KOHYA_KEY or k.startswith(A1111_KEY + ".")]
    if len(tensors) == 1:
        return stem, state[tensors[0]]
    if len(keys) == 1:  # diffusers: {token: tensor}
        return keys[0], state[keys[0]]
    raise ValueError(
        f"{where} is not a textual-inversion embedding: expected one tensor (diffusers), {KOHYA_KEY!r} (kohya / "
        f"AUTOMATIC1111) or {A1111_KEY!r}, found {sorted(keys)[:8]}"
    )


def read_textual_inversion(source: str | os.PathLike | Mapping[str, Any] | Any, token: str | None = None,
                           weight_name: str | None = None) -> TextualInversion:
    """The embedding in ``source``: a .safetensors file, a folder holding ``weight_name`` (default
    ``learned_embeds.safetensors``), a state dict, or a tensor (``token`` required). ``token`` replaces the
    file's own token (as diffusers does); without it the token is the diffusers key, AUTOMATIC1111's ``name``,
    or the file's stem. Pickles are refused (checkpoints/pickles.py)."""
    if isinstance(source, Mapping):
        loaded, tensor = _from_state_dict(source, "the state dict", None)
        where = "the state dict"
    elif isinstance(source, np.ndarray) or is_torch_tensor(source):
        if token is None:
            raise ValueError("an embedding given as a tensor needs its token: pass `token=...`")
        loaded, tensor, where = token, source, "the tensor"
    else:
        path = Path(source)
        if path.is_dir():
            path = path / (weight_name or DIFFUSERS_FILE)
        tensors = read_weights_file(path, "textual-inversion embedding")
        loaded, tensor = _from_state_dict(tensors, str(path), path.stem)
        where = str(path)
    chosen = token if token is not None else loaded
    if not chosen:
        raise ValueError(f"{where}: the embedding names no token; pass `token=...`")
    return TextualInversion(chosen, _as_array(tensor, where), where)
