"""``ortdiffusion lora merge``: write a copy of an exported pipeline with LoRAs merged into its weights, for
what needs them fixed in the files (``quantize`` after merging a few-step LoRA, say), where optimum's users fuse
and re-export. The copy is whole: parts the folder takes from another (the embedded variants) and parts stored
packed are written complete."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from ortdiffusion import initializers
from ortdiffusion.atomic_file import (
    check_output_folder,
    move_folder_into_place,
    publish_permissions,
    staging_folder,
)
from ortdiffusion.lora.merge import merged_weights
from ortdiffusion.lora.model_match import match_lora_to_model
from ortdiffusion.model_folder import (
    DATA_FILE,
    MODEL_FILE,
    SHARED_PARTS_KEY,
    part_folder,
    read_config,
    save_model_files,
)

PARTS = ("text_encoder", "unet", "vae_encoder", "vae_decoder", "vae_decoder_tiny", "tokenizer", "scheduler")


def merge_into_export(model: str | os.PathLike, loras: Sequence[tuple[str | os.PathLike, float]],
                      output: str | os.PathLike, overwrite: bool = False) -> dict[str, int]:
    """Write ``output``: the exported pipeline ``model`` with ``loras`` ((file, weight) pairs; weights add up)
    merged into its UNet and text encoder weights. Returns the number of weights merged per part."""
    import json

    import onnx

    model, output = Path(model), Path(output)
    if not (model / "model_index.json").is_file():
        raise FileNotFoundError(f"{model} is not an exported pipeline folder (no model_index.json)")
    if not loras:
        raise ValueError("give at least one LoRA to merge")
    check_output_folder(output, overwrite)
    plans: dict[str, list] = {}
    for path, weight in loras:
        for part, assignments in match_lora_to_model(model, path).items():
            plans.setdefault(part, []).append((assignments, float(weight)))
    staging = staging_folder(output)
    counts: dict[str, int] = {}
    try:
        for part in PARTS:
            source = part_folder(model, part)
            if not source.is_dir():
                continue
            if part not in plans:
                shutil.copytree(source, staging / part)
                continue
            merged = merged_weights(initializers.load(source / MODEL_FILE), plans[part])
            graph = onnx.load(str(source / MODEL_FILE), load_external_data=True)
            for tensor in graph.graph.initializer:
                if tensor.name in merged:
                    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
                    tensor.raw_data = merged[tensor.name].astype(dtype).tobytes()
            (staging / part).mkdir()
            save_model_files(graph, staging / part)
            for path in source.iterdir():
                if path.is_file() and path.name not in (MODEL_FILE, DATA_FILE):
                    shutil.copyfile(path, staging / part / path.name)
            counts[part] = len(merged)
        index = {k: v for k, v in read_config(model, "model_index.json").items() if k != SHARED_PARTS_KEY}
        (staging / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        publish_permissions(staging)
        move_folder_into_place(staging, output, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts
