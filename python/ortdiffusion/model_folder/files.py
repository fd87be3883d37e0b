"""The files of one model part (optimum's layout): their names, its JSON configs, and writing a graph with
its weights, at once or staged over the old files. The shipping codecs (packed_weights, low_rank_deltas,
shared_weights, half_weights) build on this module; model_folder, which resolves where a pipeline's parts
live, builds on them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DATA_FILE", "MODEL_FILE", "mark_external", "read_config", "replace_model_files", "save_model_files"]

MODEL_FILE = "model.onnx"  # each part's graph (optimum's layout)
DATA_FILE = "model.onnx_data"  # its weights as one external-data file


def read_config(folder: Path, name: str = "config.json") -> dict[str, Any]:
    """A component's JSON config, or {} when the folder has none."""
    path = folder / name
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def save_model_files(model: Any, folder: Path) -> None:
    """Save the ONNX ``model`` (a ModelProto) as ``folder/model.onnx`` with every tensor over 1 KiB in one
    ``model.onnx_data`` (optimum's layout, which the loaders expect)."""
    import onnx

    onnx.save_model(model, str(folder / MODEL_FILE), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA_FILE, size_threshold=1024)


def replace_model_files(model: Any, folder: Path, texts: Mapping[str, str] | None = None) -> None:
    """Replace ``folder``'s model.onnx and model.onnx_data with the ModelProto ``model`` (and the text files
    ``texts`` names, e.g. a rewritten config.json). Everything is written into a hidden staging folder
    first, then each file is renamed over its old version: the data file, then the graph that names it,
    then the texts. An error while writing leaves the old files as they were."""
    texts = dict(texts or {})
    staging = folder / ".replacing"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        save_model_files(model, staging)
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
        if not (staging / DATA_FILE).exists():  # every tensor small enough to stay in the graph
            (folder / DATA_FILE).unlink(missing_ok=True)
        for name in (DATA_FILE, MODEL_FILE, *texts):
            if (staging / name).exists():
                os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def mark_external(tensor: Any, location: str, length: int) -> None:
    """Drop the values of the TensorProto ``tensor`` and mark it as ``length`` bytes of external data at
    ``location``: a name no file has, which tells assembly where its values come from (shared_weights.py,
    packed_weights.py). Saving the model keeps such a tensor as it is."""
    from onnx import TensorProto

    for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        tensor.ClearField(field)
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
