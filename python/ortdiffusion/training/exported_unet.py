"""A torch ``UNet2DConditionModel`` rebuilt from an exported UNet folder (its config.json, weights_map.json and
the graph's initializers), so a LoRA can be trained against the very weights a folder ships (the embedded
model's UNet is stored packed to int8: its assembled copy holds the decoded values the pipelines run with)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DConditionModel

from ortdiffusion import initializers
from ortdiffusion.model_folder import MODEL_FILE, part_folder, read_config

WEIGHTS_MAP_FILE = "weights_map.json"


def unet_from_export(folder: Path) -> UNet2DConditionModel:
    """The UNet of the exported pipeline ``folder`` (an ortdiffusion export: it needs weights_map.json) as a
    float32 diffusers model in eval mode. Raises ValueError naming the parameters the folder lacks."""
    unet_folder = part_folder(folder, "unet")
    config = read_config(unet_folder)
    map_path = unet_folder / WEIGHTS_MAP_FILE
    if not config or not map_path.is_file():
        raise ValueError(f"{unet_folder} needs config.json and {WEIGHTS_MAP_FILE} (an ortdiffusion export)")
    entries = json.loads(map_path.read_text(encoding="utf-8"))["modules"]["unet"]
    weights = initializers.load(unet_folder / MODEL_FILE)
    unet = UNet2DConditionModel.from_config({k: v for k, v in config.items() if not k.startswith("_")})
    state = {}
    for name, entry in entries.items():
        array = np.array(weights[entry["initializer"]], dtype=np.float32)  # a writable float32 copy
        state[name] = torch.from_numpy(np.ascontiguousarray(array.T) if entry["transposed"] else array)
    missing, unexpected = unet.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{unet_folder}: the weights map does not cover the UNet: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return unet.eval()
