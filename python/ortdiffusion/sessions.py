"""ONNX Runtime sessions for the pipelines: provider names resolved with clear errors, sessions created
from model files with the caller's SessionOptions, and each model's input names, shapes and numpy dtypes
read from the session (so a pipeline takes e.g. the timestep dtype from the UNet, never assumes it)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

logger = logging.getLogger(__name__)

# ONNX Runtime's tensor type strings -> numpy dtypes (the types SD graphs use).
_ORT_TYPES: dict[str, np.dtype] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(bool)": np.dtype(np.bool_),
}


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, shape (ints, or strings/None for symbolic dims) and numpy dtype."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype


def resolve_provider(provider: str) -> str:
    """The ONNX Runtime provider name for ``provider``: a full name (``"CUDAExecutionProvider"``) or a
    short, case-insensitive one (``"cpu"``, ``"cuda"``, ``"dml"``...). Raises ValueError naming the
    providers this onnxruntime build offers when it is not one of them."""
    available = ort.get_available_providers()
    wanted = provider.strip()
    for name in available:
        short = name.removesuffix("ExecutionProvider")
        if wanted.lower() in (name.lower(), short.lower()):
            return name
    raise ValueError(
        f"provider {provider!r} is not available in this onnxruntime build; available: {', '.join(available)}"
    )


def create_session(
    model_path: str | os.PathLike,
    provider: str = "CPUExecutionProvider",
    sess_options: ort.SessionOptions | None = None,
    provider_options: dict[str, Any] | None = None,
) -> ort.InferenceSession:
    """An ``InferenceSession`` for ``model_path`` on ``provider`` (see :func:`resolve_provider`).
    Missing files raise FileNotFoundError naming the model; files ONNX Runtime cannot load raise ValueError
    naming the file and carrying ONNX Runtime's reason."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {str(path)!r}")
    name = resolve_provider(provider)
    providers: Sequence[Any] = [(name, provider_options)] if provider_options else [name]
    try:
        session = ort.InferenceSession(str(path), sess_options=sess_options, providers=list(providers))
    except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise ValueError(f"onnxruntime cannot load {str(path)!r}: {e}") from e
    logger.debug("loaded %s on %s", path, session.get_providers())
    return session


def _spec(arg: Any) -> TensorSpec:
    if arg.type not in _ORT_TYPES:
        raise ValueError(f"model tensor {arg.name!r} has type {arg.type}, which ortdiffusion does not handle")
    shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES[arg.type])


def input_specs(session: ort.InferenceSession) -> dict[str, TensorSpec]:
    """The session's inputs by name, with numpy dtypes."""
    return {arg.name: _spec(arg) for arg in session.get_inputs()}


def output_specs(session: ort.InferenceSession) -> dict[str, TensorSpec]:
    """The session's outputs by name, with numpy dtypes."""
    return {arg.name: _spec(arg) for arg in session.get_outputs()}


def require_inputs(session: ort.InferenceSession, names: list[str], model: str, task: str) -> dict[str, TensorSpec]:
    """The input specs, after checking that ``names`` are all inputs of the model; otherwise a ValueError
    saying which ``task`` needs which missing inputs of ``model`` (e.g. text2img on a ControlNet export)."""
    specs = input_specs(session)
    missing = [n for n in names if n not in specs]
    if missing:
        raise ValueError(
            f"{model} lacks the inputs {missing} that {task} needs (it has {sorted(specs)}); "
            "was it exported for another pipeline?"
        )
    return specs
