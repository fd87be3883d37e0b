"""int8 *packing* of a model part's weights for shipping: every weight matrix is stored as int8 codes with
one float32 scale per output channel, and decoded back to its own type (float32, or float16 for
fp16-weights parts) when the part is assembled into the cache on first use (shared_weights.py). Nothing
downstream sees int8: sessions, LoRAs (merge and live), weight swaps and quantize read the decoded part,
so packing only costs the rounding.

Symmetric per-channel linear quantization (as in ONNX Runtime's per-channel weight quantization, and
``torch.ao.quantization.PerChannelMinMaxObserver`` with ``qscheme=torch.per_channel_symmetric``):

    scale[c] = max |W[c, ...]| / 127          (c: the output channel of W's consumer)
    code     = round(W / scale[c])  in [-127, 127]
    W'       = code * scale[c]                 |W' - W| <= scale[c] / 2

The output channel is axis 0 for Conv and Gather (embedding rows), axis 1 for ConvTranspose, and the last
axis of MatMul's weight; :func:`channel_axis` follows the weight through Casts and Transposes, so a Linear
weight stored [out, in] and transposed for MatMul (as the exporter's graphs do) is scaled per row.

Layout: the initializer keeps its name, type and shape in model.onnx, marked as external data at the
location ``PACKED_LOCATION`` that no file has; ``packed_weights.safetensors`` holds ``NAME`` (int8 codes,
same shape) and ``NAME::scale`` (float32, 1 on every axis but the channel's), and ``packed_weights.json``
lists the packed names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion.model_folder.files import (
    DATA_FILE,
    MODEL_FILE,
    mark_external,
    read_config,
    replace_model_files,
)

MANIFEST = "packed_weights.json"
PACKED_FILE = "packed_weights.safetensors"
PACKED_LOCATION = "ortdiffusion-packed-weights"
FORMAT = "int8-per-channel"
SCALE_SUFFIX = "::scale"
INT8_MAX = 127
MIN_ELEMENTS = 256  # smaller tensors (the few small matrices) are not worth a scale per channel


def channel_axis(model: Any, name: str) -> int:
    """The output-channel axis of initializer ``name`` in the ModelProto ``model``, from the first node
    that reads it, followed through Casts (fp16-weights parts read their weights through one) and
    Transposes (the exporter's Linear weights are stored [out, in] and transposed for MatMul): see the
    module docstring. 0 when no reader says otherwise."""
    ranks = {t.name: len(t.dims) for t in model.graph.initializer}
    # each value that reads the weight -> its axes as axes of the stored tensor
    reads: dict[str, list[int]] = {name: list(range(ranks.get(name, 0)))}
    for node in model.graph.node:  # topological order: a Cast or Transpose comes before its readers
        source = node.input[0] if node.input else None
        if node.op_type == "Cast" and source in reads:
            reads[node.output[0]] = reads[source]
            continue
        if node.op_type == "Transpose" and source in reads:
            axes = reads[source]
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), list(range(len(axes)))[::-1])
            reads[node.output[0]] = [axes[k] for k in perm]
            continue
        for k, value in enumerate(node.input):
            if value not in reads:
                continue
            axes = reads[value]
            if not axes:
                return 0
            if node.op_type == "MatMul" and k == 1:
                return axes[-1]
            if node.op_type == "Gemm" and k == 1:
                transposed = next((a.i for a in node.attribute if a.name == "transB"), 0)
                return axes[0] if transposed else axes[-1]
            if node.op_type == "ConvTranspose" and k == 1:
                return axes[1]
            return axes[0]
    return 0


def pack_tensor(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 per-channel scales of ``values`` along ``axis`` (see the module docstring).
    A channel that is all zeros gets scale 0."""
    values = np.asarray(values, dtype=np.float32)
    axis = axis % values.ndim
    others = tuple(k for k in range(values.ndim) if k != axis)
    scale = np.max(np.abs(values), axis=others, keepdims=True) / INT8_MAX
    safe = np.where(scale > 0, scale, 1.0)
    codes = np.clip(np.rint(values / safe), -INT8_MAX, INT8_MAX).astype(np.int8)
    return codes, scale.astype(np.float32)


def unpack_tensor(codes: np.ndarray, scale: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``codes * scale`` in float32, then in ``dtype``: the inverse of :func:`pack_tensor` up to rounding."""
    return (codes.astype(np.float32) * scale).astype(dtype)


def stored_dtype(tensor: Any) -> np.dtype:
    """The little-endian numpy type of the TensorProto ``tensor``: what assembly writes as its raw bytes."""
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")


def pack_weights(part: Path) -> int:
    """Rewrite ``part`` (a folder with model.onnx) in place so every finite float32 or float16 initializer
    of two or more dimensions and at least ``MIN_ELEMENTS`` values is packed to int8 (``packed_weights.*``;
    a tensor holding inf or NaN, such as an attention mask, or one whose decoded values would overflow
    its type, such as a mask filled with the type's lowest value, stays as it is).
    Tensors left out for another reason (shared_weights.py) stay as they are. Returns how many tensors
    were packed; raises ValueError for a part packed already."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from onnx.external_data_helper import load_external_data_for_tensor
    from safetensors.numpy import save_file

    if (part / MANIFEST).exists():
        raise ValueError(f"{part} is already packed ({MANIFEST} exists); pack the unpacked export instead")
    model = onnx.load(str(part / MODEL_FILE), load_external_data=False)
    for tensor in model.graph.initializer:  # its own tensors only: the shared ones keep their markers
        if tensor.data_location == TensorProto.EXTERNAL and _location(tensor) == DATA_FILE:
            load_external_data_for_tensor(tensor, str(part))
            tensor.data_location = TensorProto.DEFAULT
            del tensor.external_data[:]
    graph_inputs = {value.name for value in model.graph.input}
    candidates = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer
                  if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16) and len(t.dims) >= 2
                  and int(np.prod(t.dims)) >= MIN_ELEMENTS and t.name not in graph_inputs
                  and t.data_location != TensorProto.EXTERNAL}
    stored: dict[str, np.ndarray] = {}
    packable = []
    for tensor in model.graph.initializer:
        values = candidates.get(tensor.name)
        if values is None or not np.isfinite(values).all():
            continue
        codes, scale = pack_tensor(values, channel_axis(model, tensor.name))
        with np.errstate(over="ignore"):  # the overflow is what this looks for
            decodes_finite = np.isfinite(unpack_tensor(codes, scale, values.dtype)).all()
        if not decodes_finite:
            continue  # values at the type's limit (a finfo.min mask): code * scale would overflow to inf
        stored[tensor.name], stored[tensor.name + SCALE_SUFFIX] = codes, scale
        mark_external(tensor, PACKED_LOCATION, values.nbytes)  # in memory only until the files are written
        packable.append(tensor)
    if not packable:
        return 0  # nothing to gain: the part stays as it is (and needs no assembly)
    # The packed file and manifest first: until the graph is replaced, the old complete files still load.
    save_file(stored, str(part / PACKED_FILE))
    manifest = {"format": FORMAT, "tensors": sorted(t.name for t in packable)}
    (part / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    replace_model_files(model, part)
    return len(packable)


def _location(tensor: Any) -> str:
    return next((entry.value for entry in tensor.external_data if entry.key == "location"), "")


class PackedWeights:
    """The packed tensors of one part, read once (``PACKED_FILE`` is validated by
    safetensors_file.read_safetensors), decoded tensor by tensor during assembly."""

    def __init__(self, part: Path) -> None:
        from ortdiffusion.safetensors_file import read_safetensors

        self.part = part
        manifest = read_config(part, MANIFEST)  # ValueError naming the file if it is not JSON
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{part / MANIFEST}: unknown packing format {manifest.get('format')!r}; "
                             f"this ortdiffusion reads {FORMAT!r}")
        self.names = set(manifest.get("tensors", []))
        self.tensors, _ = read_safetensors(part / PACKED_FILE)

    def decoded_bytes(self, tensor: Any) -> bytes:
        """The decoded little-endian bytes of the packed initializer ``tensor`` (a TensorProto). Raises
        ValueError naming the file and tensor when the manifest or ``PACKED_FILE`` lacks it, or its codes
        or scale do not fit the tensor's shape."""
        codes = self.tensors.get(tensor.name)
        scale = self.tensors.get(tensor.name + SCALE_SUFFIX)
        shape = tuple(tensor.dims)
        if tensor.name not in self.names or codes is None or scale is None:
            raise ValueError(f"{self.part / MODEL_FILE}: tensor {tensor.name!r} is marked packed but "
                             f"{self.part / PACKED_FILE} or {MANIFEST} lacks it; rebuild the part "
                             "(scripts/build_default_model.py)")
        if codes.shape != shape or codes.dtype != np.int8 or scale.dtype != np.float32 or scale.ndim != len(shape) \
                or any(s not in (1, d) for s, d in zip(scale.shape, shape)):
            raise ValueError(f"{self.part / PACKED_FILE}: tensor {tensor.name!r} has codes {codes.dtype}{codes.shape} "
                             f"and scale {scale.dtype}{scale.shape}, not int8 codes of shape {shape} with a "
                             "per-channel float32 scale")
        return np.ascontiguousarray(unpack_tensor(codes, scale, stored_dtype(tensor))).tobytes()
