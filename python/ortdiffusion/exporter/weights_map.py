"""``weights_map.json``: which ONNX initializer holds each diffusers parameter, so LoRA and ControlNet
weights can later be swapped in without guessing from names.

Format (one file per exported model folder)::

    {"format": "ortdiffusion.weights_map", "version": 1,
     "modules": {"unet": {"conv_in.weight": {"initializer": "unet.conv_in.weight",
                                              "shape": [320, 4, 3, 3], "transposed": false}, ...},
                 "controlnets.0": {...}}}

``transposed`` is true when the initializer holds W^T rather than the parameter's own layout (as in
constant-folded exports); ``consumed_transposed`` when the graph reads it through a Transpose node
(Linear weights: the graph computes x @ W^T)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from ortdiffusion.atomic_file import write_json_atomic

WEIGHTS_MAP_FILE = "weights_map.json"
FORMAT = "ortdiffusion.weights_map"
VERSION = 1


def _dims(tensor: onnx.TensorProto) -> list[int]:
    return [int(d) for d in tensor.dims]


def build_weights_map(model: onnx.ModelProto, modules: dict[str, dict[str, tuple[int, ...]]]) -> dict[str, Any]:
    """The weights map of ``model`` for ``modules``: {prefix: {parameter name: shape}} where the exporter
    named the initializers ``<prefix>.<parameter name>``. Raises ValueError naming every parameter that
    did not survive as an initializer of its own shape."""
    initializers = {t.name: t for t in model.graph.initializer}
    transposed_inputs = {n.input[0] for n in model.graph.node if n.op_type == "Transpose"}
    consumers: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    result: dict[str, Any] = {}
    problems: list[str] = []
    for prefix, params in modules.items():
        entries: dict[str, Any] = {}
        for param, shape in params.items():
            name = f"{prefix}.{param}"
            tensor = initializers.get(name)
            if tensor is None:
                problems.append(f"{name}: no initializer of that name")
                continue
            if tuple(_dims(tensor)) != tuple(shape):
                problems.append(f"{name}: initializer shape {_dims(tensor)} != parameter shape {list(shape)}")
                continue
            entries[param] = {
                "initializer": name,
                "shape": list(shape),
                "transposed": False,
                "consumed_transposed": name in transposed_inputs and consumers.get(name) == {"Transpose"},
            }
        result[prefix] = entries
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ValueError(f"the export lost parameters that must stay swappable: {shown}")
    return {"format": FORMAT, "version": VERSION, "modules": result}


def write_weights_map(folder: Path, weights_map: dict[str, Any]) -> Path:
    """Write ``weights_map.json`` into ``folder`` (atomically); returns its path."""
    path = folder / WEIGHTS_MAP_FILE
    write_json_atomic(path, weights_map)
    return path


def read_weights_map(folder: str | Path) -> dict[str, Any]:
    """The weights map of an exported model folder (``unet/``, ``text_encoder/``...), checked for format."""
    path = Path(folder) / WEIGHTS_MAP_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT or data.get("version") != VERSION:  # "lora_slots" is optional
        raise ValueError(f"{path} is not an ortdiffusion weights map of version {VERSION}")
    return data
