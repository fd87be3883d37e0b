"""Vocabulary pruning of an exported CLIP text encoder: the token-embedding table [V, D] keeps only the
rows of the tokens a model was trained on, and every other token reads one shared zero row.

The graph's ``Gather(table, input_ids)`` becomes ``Gather(compact, Gather(remap, input_ids))`` with
``remap[id]`` the compact row of ``id`` (the zero row for dropped tokens). Kept tokens get exactly their
old rows, so the text encoder's outputs are bit-identical for prompts made of kept tokens; for a model whose
dropped rows were already zero (the embedded default model) they are identical for every prompt. The
pooled output is unchanged too: CLIP pools at ``argmax(input_ids)``, which reads the original ids.

For tiny models trained on a closed vocabulary, where the table is most of the file (49408 x 32 floats
= 6.3 MB for the default model's 26 tokens)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortdiffusion.model_folder import DATA_FILE, MODEL_FILE, read_config, replace_model_files
from ortdiffusion.token_table import REMAP_SUFFIX, find_token_table

PRUNED_KEY = "_ortdiffusion_pruned_vocabulary"
WEIGHTS_MAP_FILE = "weights_map.json"


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune_vocabulary` did: the table's name, its rows before and after, and file bytes."""

    table: str
    rows_before: int
    rows_after: int
    bytes_before: int
    bytes_after: int


def _folder_bytes(folder: Path) -> int:
    return sum((folder / name).stat().st_size for name in (MODEL_FILE, DATA_FILE) if (folder / name).is_file())


def _embedding_table(graph, path: Path):
    """The initializer read by Gather as its data input on the path from ``input_ids``: the token table,
    read directly (a float32 export, before any conversion)."""
    name = find_token_table(graph, path).table
    if not any(node.op_type == "Gather" and node.input[0] == name for node in graph.node):
        raise ValueError(f"{path}: the token table {name} is read through a conversion; prune the float32 export, "
                         "before any `ortdiffusion quantize` conversion")
    return next(t for t in graph.initializer if t.name == name)


def prune_vocabulary(folder: str | Path, keep_token_ids: Iterable[int]) -> PruneReport:
    """Prune the text encoder in ``folder`` (``model.onnx`` with ``model.onnx_data``) in place to the
    tokens ``keep_token_ids``; records what was kept in ``config.json`` (``_ortdiffusion_pruned_vocabulary``)
    and the new table shape in ``weights_map.json``. Raises ValueError for ids outside the vocabulary, an
    already pruned folder, or a graph without exactly one token-embedding table."""
    import onnx
    from onnx import helper, numpy_helper

    folder = Path(folder)
    path = folder / MODEL_FILE
    config = read_config(folder)
    if PRUNED_KEY in config:
        raise ValueError(f"{folder} is already pruned to {len(config[PRUNED_KEY]['kept_token_ids'])} tokens")
    bytes_before = _folder_bytes(folder)
    model = onnx.load(str(path), load_external_data=True)
    graph = model.graph
    tensor = _embedding_table(graph, path)
    table = numpy_helper.to_array(tensor)
    keep = np.array(sorted({int(t) for t in keep_token_ids}), dtype=np.int64)
    if keep.size == 0 or keep[0] < 0 or keep[-1] >= table.shape[0]:
        raise ValueError(f"token ids to keep must be a non-empty subset of [0, {table.shape[0]}), got {keep[:3]}...{keep[-3:]}")
    compact = np.zeros((keep.size + 1, table.shape[1]), dtype=table.dtype)  # last row: every dropped token
    compact[: keep.size] = table[keep]
    remap = np.full(table.shape[0], keep.size, dtype=np.int32)
    remap[keep] = np.arange(keep.size, dtype=np.int32)
    name = tensor.name
    tensor.CopyFrom(numpy_helper.from_array(compact, name))
    remap_name = name + REMAP_SUFFIX
    graph.initializer.append(numpy_helper.from_array(remap, remap_name))
    nodes = list(graph.node)
    del graph.node[:]
    for node in nodes:
        if node.op_type == "Gather" and node.input[0] == name:
            remapped = f"{node.output[0]}.remapped_ids"
            graph.node.append(helper.make_node("Gather", [remap_name, node.input[1]], [remapped], name=f"{node.name}.remap"))
            node.input[1] = remapped
        graph.node.append(node)
    onnx.checker.check_model(model)
    config[PRUNED_KEY] = {"kept_token_ids": keep.tolist(), "dropped_tokens": "one shared zero row",
                          "rows_before": int(table.shape[0])}
    replace_model_files(model, folder, {"config.json": json.dumps(config, indent=2, sort_keys=True) + "\n"})
    weights_map = folder / WEIGHTS_MAP_FILE
    if weights_map.is_file():
        data = json.loads(weights_map.read_text(encoding="utf-8"))
        for entries in data.get("modules", {}).values():
            for entry in entries.values():
                if entry.get("initializer") == name:
                    entry["shape"] = list(compact.shape)
        weights_map.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return PruneReport(name, int(table.shape[0]), int(compact.shape[0]), bytes_before, _folder_bytes(folder))
