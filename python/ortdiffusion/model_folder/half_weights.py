"""float16 *storage* of an ONNX model's weights with float32 compute: every float32 initializer of two or
more dimensions (convolution, projection and embedding weights: nearly all the bytes) is stored as float16
and read through ``Cast(to=float)``. ONNX Runtime folds those Casts into float32 initializers when it
creates the session, so a run does the same float32 arithmetic as before on weights rounded to float16:
half the disk and download, the same speed. Biases and norm parameters (1-D) stay float32.

The initializer keeps its name (weights_map.json, LoRA matching and weight swaps still find it); the Cast's
output, ``NAME::fp32``, is what the graph's nodes read. :func:`restore_float32_weights` undoes the layout
(with the rounded values) for tools that need float32 initializers, such as ONNX Runtime's quantizers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion.model_folder.files import MODEL_FILE, replace_model_files

FLOAT32_SUFFIX = "::fp32"
FLOAT16_MAX = 65504.0


def store_weights_fp16(model: Any) -> int:
    """Rewrite the ModelProto ``model`` in place to float16 weight storage; returns how many initializers
    were converted. Tensors that are graph inputs, or that float16 cannot hold (non-finite or beyond
    +-65504), are left in float32."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    graph_inputs = {value.name for value in graph.input}
    reads: dict[str, str] = {}
    for tensor in graph.initializer:
        if tensor.data_type != TensorProto.FLOAT or len(tensor.dims) < 2 or tensor.name in graph_inputs:
            continue
        values = numpy_helper.to_array(tensor)
        if not np.isfinite(values).all() or (values.size and float(np.abs(values).max()) > FLOAT16_MAX):
            continue
        tensor.CopyFrom(numpy_helper.from_array(values.astype(np.float16), tensor.name))
        reads[tensor.name] = tensor.name + FLOAT32_SUFFIX
    casts = [helper.make_node("Cast", [name], [read], to=TensorProto.FLOAT, name=read) for name, read in reads.items()]
    for node in graph.node:
        for k, value in enumerate(node.input):
            if value in reads:
                node.input[k] = reads[value]
    for output in graph.output:
        if output.name in reads:
            raise ValueError(f"graph output {output.name!r} is an initializer; float16 storage does not handle it")
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(reads)


def restore_float32_weights(model: Any) -> int:
    """Undo :func:`store_weights_fp16` in place: float32 initializers (with the float16-rounded values)
    read directly, the Casts removed. Returns how many were restored (0 for a float32 model)."""
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    restored: dict[str, str] = {}
    kept = []
    for node in graph.node:
        source = node.input[0] if node.op_type == "Cast" and node.input else None
        if (source in initializers and initializers[source].data_type == TensorProto.FLOAT16
                and node.output[0] == source + FLOAT32_SUFFIX):
            tensor = initializers[source]
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), source))
            restored[node.output[0]] = source
        else:
            kept.append(node)
    for node in kept:
        for k, value in enumerate(node.input):
            if value in restored:
                node.input[k] = restored[value]
    del graph.node[:]
    graph.node.extend(kept)
    return len(restored)


def store_part_fp16(folder: Path) -> int:
    """Convert ``folder/model.onnx`` (and its ``model.onnx_data``) to float16 weight storage in place;
    returns how many initializers were converted."""
    import onnx

    model = onnx.load(str(folder / MODEL_FILE), load_external_data=True)
    count = store_weights_fp16(model)
    replace_model_files(model, folder)
    return count
