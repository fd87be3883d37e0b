"""Swapping the weights of a ControlNet fused into an ortdiffusion UNet export (e.g. canny -> depth) from a
diffusers ControlNet folder, its .safetensors file or a single file in the original layout, through the export's weights_map.json: no re-export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ortdiffusion.checkpoints.ldm_controlnet import is_ldm_controlnet, ldm_controlnet_to_diffusers
from ortdiffusion.checkpoints.weights_file import read_weights_file

WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def controlnet_state(source: str | os.PathLike) -> dict[str, np.ndarray]:
    """A ControlNet's parameters under diffusers' names, from a diffusers folder (``diffusion_pytorch_model.safetensors``)
    or a .safetensors file in diffusers' or the original layout (``control_model.*``, as people download them).
    Pickled checkpoints (.bin/.pth) are refused: nothing is unpickled."""
    path = Path(source)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    tensors = read_weights_file(path, "ControlNet")
    if is_ldm_controlnet(tensors):
        try:
            return ldm_controlnet_to_diffusers(tensors)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return tensors


def controlnet_overrides(unet_folder: Path, index: int, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """initializer name -> new weight for ControlNet ``index`` of the fused export in ``unet_folder``.
    Every parameter must be present with the exported shape (else: a ControlNet for another architecture)."""
    map_path = unet_folder / "weights_map.json"
    if not map_path.is_file():
        raise ValueError(f"{unet_folder} has no weights_map.json: ControlNet weights can be swapped only in ortdiffusion exports")
    modules = json.loads(map_path.read_text(encoding="utf-8"))["modules"]
    key = f"controlnets.{index}"
    if key not in modules:
        fused = sorted(k for k in modules if k.startswith("controlnets."))
        raise ValueError(f"{unet_folder} fuses no ControlNet number {index} (it has {fused or 'none'})")
    entries = modules[key]
    missing = sorted(set(entries) - set(tensors))
    unexpected = sorted(set(tensors) - set(entries))
    wrong = [f"{name}: {list(tensors[name].shape)} vs {entry['shape']}" for name, entry in entries.items()
             if name in tensors and list(tensors[name].shape) != list(entry["shape"])]
    if missing or unexpected or wrong:
        raise ValueError(
            f"these ControlNet weights do not fit ControlNet {index} of the export (a different architecture?): "
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}), "
            f"{len(wrong)} of another shape (e.g. {wrong[:2]})"
        )
    out = {}
    for name, entry in entries.items():
        array = np.ascontiguousarray(tensors[name], dtype=np.float32)
        out[entry["initializer"]] = array.T.copy() if entry["transposed"] else array
    return out
