"""Matching any LoRA source to an exported pipeline folder's weights, per model part."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ortdiffusion.lora.formats import load_lora_file
from ortdiffusion.lora.lora_file import read_lora_file
from ortdiffusion.lora.targets import Assignment, match_layers, module_targets
from ortdiffusion.model_folder import part_folder

LORA_PARTS = ("unet", "text_encoder")


def match_lora_to_model(model: str | os.PathLike, source: str | os.PathLike | Mapping[str, Any]) -> dict[str, list[Assignment]]:
    """Parse a LoRA (.safetensors, folder, state dict, or a .lora file made for this model) and match its
    layers to the weights of the exported pipeline in ``model``; raises ValueError if any layer does not fit."""
    folder = Path(model)
    if not part_folder(folder, "unet").is_dir():
        raise FileNotFoundError(f"{folder} is not an exported pipeline (no unet/)")
    targets = {part: module_targets(part_folder(folder, part), part) for part in LORA_PARTS
               if part_folder(folder, part).is_dir()}
    if not isinstance(source, Mapping) and Path(source).suffix == ".lora":
        return read_lora_file(source, targets)
    lora = load_lora_file(source)
    missing = [part for part in LORA_PARTS if lora.layers.get(part) and part not in targets]
    if missing:
        raise ValueError(f"{lora.source} has {missing} layers but {folder} has no such model part")
    return {part: match_layers(lora, part, targets[part]) for part in LORA_PARTS if lora.layers.get(part)}
