"""ONNX Runtime sessions for the pipelines: provider names resolved with clear errors, sessions created
from model files with the caller's SessionOptions, and each model's input names, shapes and numpy dtypes
read from the session (so a pipeline takes e.g. the timestep dtype from the UNet, never assumes it)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ortdiffusion import session_cache

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


# SessionOptions attributes copied when ortdiffusion needs its own options object (to add initializers
# without changing the caller's). Config entries set with add_session_config_entry cannot be listed by
# ONNX Runtime's Python API and are not copied.
_OPTION_ATTRIBUTES = (
    "enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse", "enable_profiling", "execution_mode",
    "execution_order", "graph_optimization_level", "inter_op_num_threads", "intra_op_num_threads",
    "log_severity_level", "log_verbosity_level", "logid", "use_deterministic_compute",
)


def clone_session_options(options: ort.SessionOptions | None) -> ort.SessionOptions:
    """A new SessionOptions with ``options``' settings (see _OPTION_ATTRIBUTES for what is copied)."""
    clone = ort.SessionOptions()
    if options is not None:
        for name in _OPTION_ATTRIBUTES:
            setattr(clone, name, getattr(options, name))
    return clone


def create_session(
    model_path: str | os.PathLike,
    provider: str = "CPUExecutionProvider",
    sess_options: ort.SessionOptions | None = None,
    provider_options: dict[str, Any] | None = None,
    initializers: Mapping[str, np.ndarray] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ort.InferenceSession:
    """An ``InferenceSession`` for ``model_path`` on ``provider`` (see :func:`resolve_provider`).
    ``initializers`` replace the graph's initializers of the same names (e.g. LoRA-merged weights); the
    arrays are kept alive by the session. ``cache_dir``: keep ONNX Runtime's optimized graph there and
    load it on later calls (see session_cache.py; CPU sessions on the file's own weights only). Missing
    files raise FileNotFoundError naming the model; files ONNX Runtime cannot load raise ValueError
    naming the file and carrying ONNX Runtime's reason."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {str(path)!r}")
    name = resolve_provider(provider)
    providers: Sequence[Any] = [(name, provider_options)] if provider_options else [name]
    if initializers:
        options = clone_session_options(sess_options)
        model, keep_alive = _with_replaced_weights(path, initializers, options)
        session = _new_session(model, options, providers, path)
        session._ortdiffusion_initializers = keep_alive  # ORT reads the replaced weights from these buffers
        return session
    if cache_dir is not None and name == "CPUExecutionProvider" and _cacheable(sess_options):
        return _cached_session(path, name, providers, sess_options, provider_options, Path(cache_dir))
    return _new_session(str(path), sess_options, providers, path)


def _new_session(model: str | bytes, options: ort.SessionOptions | None, providers: Sequence[Any], path: Path
                 ) -> ort.InferenceSession:
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=list(providers))
    except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise ValueError(f"onnxruntime cannot load {str(path)!r}: {e}") from e
    logger.debug("loaded %s on %s", path, session.get_providers())
    return session


def _cacheable(options: ort.SessionOptions | None) -> bool:
    """Caching applies unless the caller saves the optimized graph itself or turned optimization off."""
    return options is None or (
        not options.optimized_model_filepath
        and options.graph_optimization_level != ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )


def _cached_session(path: Path, name: str, providers: Sequence[Any], sess_options: ort.SessionOptions | None,
                    provider_options: dict[str, Any] | None, cache_dir: Path) -> ort.InferenceSession:
    """A session from the optimized-graph cache, creating and storing the entry on a miss."""
    level = (sess_options or ort.SessionOptions()).graph_optimization_level
    entry = session_cache.entry_for(cache_dir, path, name, provider_options, level)
    if entry.exists():
        options = clone_session_options(sess_options)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # done when it was saved
        try:
            session = _new_session(str(entry.model), options, providers, entry.model)
            session._ortdiffusion_cache = "hit"
            return session
        except ValueError as e:  # a damaged entry: rebuild it rather than fail the call
            logger.warning("ignoring the damaged optimized-graph cache entry %s (%s)", entry.folder, e)
            session_cache.discard(entry.folder)
    try:
        staging = session_cache.open_staging(entry)
    except OSError as e:
        logger.warning("cannot write the optimized-graph cache in %s (%s); continuing without it", cache_dir, e)
        return _new_session(str(path), sess_options, providers, path)
    options = clone_session_options(sess_options)
    session_cache.save_into(options, staging)
    try:
        session = _new_session(str(path), options, providers, path)
    except ValueError:
        session_cache.discard(staging)  # saving may be what failed (disk full): try once without it
        return _new_session(str(path), sess_options, providers, path)
    session_cache.commit(entry, staging)
    session._ortdiffusion_cache = "stored"
    return session


def create_session_from_graph(
    model: bytes,
    folder: Path,
    provider: str = "CPUExecutionProvider",
    sess_options: ort.SessionOptions | None = None,
    provider_options: dict[str, Any] | None = None,
    initializers: Mapping[str, np.ndarray] | None = None,
) -> ort.InferenceSession:
    """A session for a serialized (rewritten) model whose external data lives in ``folder``. ``initializers``
    replace the graph's initializers of the same names; names the graph lacks are ignored (a graph cut from
    a larger one takes the replacements meant for that one)."""
    name = resolve_provider(provider)
    options = clone_session_options(sess_options)
    keep_alive: list[Any] = []
    if initializers:
        model, keep_alive = _graph_with_replaced_weights(model, initializers, options)
    options.add_session_config_entry(_EXTERNAL_FOLDER_KEY, str(folder))
    providers: Sequence[Any] = [(name, provider_options)] if provider_options else [name]
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=list(providers))
    except Exception as e:  # onnxruntime raises its own exception types
        raise ValueError(f"onnxruntime cannot load the rewritten graph of {folder}: {e}") from e
    if keep_alive:
        session._ortdiffusion_initializers = keep_alive  # ORT reads the replaced weights from these buffers
    return session


# A location no file has: tensors redirected to it are always supplied by add_external_initializers.
_REPLACED_LOCATION = "ortdiffusion-replaced-weights"
_EXTERNAL_FOLDER_KEY = "session.model_external_initializers_file_folder_path"


def _with_replaced_weights(
    path: Path, weights: Mapping[str, np.ndarray], options: ort.SessionOptions
) -> tuple[str | bytes, list[Any]]:
    """Make ``options`` supply ``weights`` in place of the model's initializers of the same names.

    ``SessionOptions.add_initializer`` is not enough: graph optimizations (weight layout transforms, folded
    Transposes) read the file's original values. ``add_external_initializers`` replaces tensors *before*
    optimization, but only tensors stored as external data. So tensors stored inline are first redirected
    to an external location in an in-memory copy of the graph (the model is then loaded from bytes, its
    other external data resolved from its folder). So are tensors replaced by an array of another shape
    (a token table grown by textual inversion, token_table.py), whose dims the copy takes: ONNX Runtime
    refuses a replacement whose dims differ from the graph's. Returns what to load and the buffers to keep
    alive."""
    from ortdiffusion import initializers as onnx_initializers

    stored = onnx_initializers.load(path)
    unknown = sorted(set(weights) - set(stored))
    if unknown:
        raise ValueError(f"{path} has no initializers named {unknown[:5]}")
    names = list(weights)
    arrays = {n: np.ascontiguousarray(weights[n], dtype=stored[n].dtype) for n in names}
    values = [ort.OrtValue.ortvalue_from_numpy(arrays[n]) for n in names]
    options.add_external_initializers(names, values)
    keep_alive: list[Any] = [values, arrays]
    redirected = {n for n in names if not stored.is_external(n) or arrays[n].shape != tuple(stored[n].shape)}
    if not redirected:
        return str(path), keep_alive
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        if tensor.name in redirected:
            _redirect(tensor, arrays[tensor.name])
    options.add_session_config_entry(_EXTERNAL_FOLDER_KEY, str(path.parent))
    return proto.SerializeToString(), keep_alive


def _redirect(tensor: Any, array: np.ndarray) -> None:
    """Mark the TensorProto ``tensor`` as external data at a location no file has, with ``array``'s shape:
    ONNX Runtime then takes its values from add_external_initializers."""
    import onnx

    del tensor.dims[:]
    tensor.dims.extend(array.shape)
    for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
        tensor.ClearField(field)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", _REPLACED_LOCATION), ("offset", "0"), ("length", str(array.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def _graph_with_replaced_weights(model: bytes, weights: Mapping[str, np.ndarray], options: ort.SessionOptions
                                 ) -> tuple[bytes, list[Any]]:
    """The serialized ``model`` with its initializers named in ``weights`` redirected to ``options``'
    external initializers (each array cast to the initializer's own type), and the buffers to keep alive."""
    import onnx
    from onnx import helper

    proto = onnx.load_from_string(model)
    names, values, arrays = [], [], []
    for tensor in proto.graph.initializer:
        if tensor.name in weights:
            dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)
            array = np.ascontiguousarray(weights[tensor.name], dtype=dtype)
            _redirect(tensor, array)
            names.append(tensor.name)
            arrays.append(array)
            values.append(ort.OrtValue.ortvalue_from_numpy(array))
    if names:
        options.add_external_initializers(names, values)
    return proto.SerializeToString(), [values, arrays]


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
