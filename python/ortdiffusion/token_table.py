"""The token-embedding table of an exported CLIP text encoder: which initializer the graph's
``Gather(table, input_ids)`` reads (directly, or through the Cast of float16 storage, half_weights.py),
and the remap of a vocabulary-pruned encoder (exporter/vocabulary.py), if any; and that table grown by new
rows, for tokens added at run time (textual inversion), given to the session as replaced weights."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REMAP_SUFFIX = ".remap"  # exporter/vocabulary.py names the remap of a pruned table after it


@dataclass(frozen=True)
class TokenTable:
    """Where the token embeddings of a text encoder are: ``table`` [rows, width] and, for a pruned
    vocabulary, ``remap`` [vocabulary] (token id -> row of ``table``)."""

    table: str
    remap: str | None
    rows: int
    width: int


def find_token_table(graph: Any, path: Path | str) -> TokenTable:
    """The token table of ``graph`` (an onnx GraphProto of ``path``): the 2-d initializer that a Gather reads
    as its data, directly or through a Cast, named ``*token_embedding*`` when there are several. ValueError
    naming ``path`` when there is not exactly one (e.g. an int8 text encoder whose table is quantized)."""
    initializers = {t.name: t for t in graph.initializer}
    casts = {node.output[0]: node.input[0] for node in graph.node if node.op_type == "Cast"}
    tables = set()
    for node in graph.node:
        if node.op_type != "Gather":
            continue
        source = casts.get(node.input[0], node.input[0])
        if source in initializers and len(initializers[source].dims) == 2:
            tables.add(source)
    token_tables = [name for name in tables if "token_embedding" in name] or sorted(tables)
    if len(token_tables) != 1:
        raise ValueError(f"{path}: expected one token-embedding Gather table, found {sorted(tables) or 'none'} "
                         "(a float32 or float16 text encoder has one; an int8 conversion may not)")
    tensor = initializers[token_tables[0]]
    remap = tensor.name + REMAP_SUFFIX
    rows, width = (int(d) for d in tensor.dims)
    return TokenTable(tensor.name, remap if remap in initializers else None, rows, width)


def read_token_table(model_path: Path) -> TokenTable:
    """:func:`find_token_table` of the model file ``model_path`` (its graph only; weights stay on disk)."""
    import onnx

    return find_token_table(onnx.load(str(model_path), load_external_data=False).graph, model_path)


def grown_token_table(
    table: TokenTable, weights: Mapping[str, np.ndarray], rows: Mapping[int, np.ndarray]
) -> dict[str, np.ndarray]:
    """New arrays for ``table``'s initializers (``weights`` holds their current values) in which each token id
    of ``rows`` reads its embedding (float32 [width]): ids past the table grow it, ids inside it replace
    their row. For a pruned vocabulary the new rows are appended to the compact table and the remap is grown
    to reach them (ids between the old end and a new id read the shared blank row, as dropped tokens do).
    Returns {initializer name: array} to give the session as replaced weights."""
    base = np.asarray(weights[table.table])
    if not rows:
        return {}
    top = max(rows) + 1
    if table.remap is None:
        grown = np.zeros((max(base.shape[0], top), base.shape[1]), dtype=base.dtype)
        grown[: base.shape[0]] = base
        for token_id, vector in rows.items():
            grown[token_id] = vector
        return {table.table: grown}
    remap = np.asarray(weights[table.remap])
    blank = int(remap.max())  # the pruner's shared zero row is the compact table's last row
    new_remap = np.full(max(remap.shape[0], top), blank, dtype=remap.dtype)
    new_remap[: remap.shape[0]] = remap
    grown = np.concatenate([base, np.zeros((len(rows), base.shape[1]), dtype=base.dtype)])
    for k, (token_id, vector) in enumerate(sorted(rows.items())):
        grown[base.shape[0] + k] = vector
        new_remap[token_id] = base.shape[0] + k
    return {table.table: grown, table.remap: new_remap}
