"""Reading an exported pipeline folder's layout: component configs, and where each part lives (a folder may
take parts it lacks from another, see :func:`part_folder`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ortdiffusion.model_folder.files import (  # re-exported: the folder layer is the one entry point
    DATA_FILE,
    MODEL_FILE,
    mark_external,
    read_config,
    replace_model_files,
    save_model_files,
)
from ortdiffusion.model_folder.shared_weights import complete_part

__all__ = [
    "DATA_FILE",
    "FLOAT_WEIGHT_PRECISIONS",
    "INT8_PRECISIONS",
    "INT8_TYPES_KEY",
    "MODEL_FILE",
    "PRECISION_KEY",
    "SHARED_PARTS_KEY",
    "TINY_VAE_DECODER",
    "folder_int8_types",
    "folder_precision",
    "mark_external",
    "part_folder",
    "read_config",
    "replace_model_files",
    "save_model_files",
]

# model_index.json key by which a folder holding only some parts (a variant's unet/) takes the others from
# another folder, given relative to itself: {"_ortdiffusion_parts_from": "../default"}. One level only, and
# only a folder beside it (a model_index.json cannot send the loaders elsewhere on the disk).
SHARED_PARTS_KEY = "_ortdiffusion_parts_from"
# The optional tiny VAE decoder (diffusers' AutoencoderTiny, exporter/tiny_vae.py) beside the model's own
TINY_VAE_DECODER = "vae_decoder_tiny"


def part_folder(folder: Path, part: str) -> Path:
    """Where part ``part`` (unet, text_encoder, vae_decoder, scheduler, ...) of the exported ``folder``
    lives: ``folder/part``, or, when the folder lacks it and its model_index.json names a folder under
    ``SHARED_PARTS_KEY``, that folder's part (the shipped inpainting and ControlNet variants share the
    default model's text encoder and VAE this way). A part stored without the weights it shares with
    another part, or with its weights packed to int8, resolves to its assembled copy in the cache
    (see shared_weights.py)."""
    own = folder / part
    if own.exists():
        return complete_part(own)
    source = read_config(folder, "model_index.json").get(SHARED_PARTS_KEY)
    if isinstance(source, str) and source:
        other = (folder / source).resolve()
        if Path(source).is_absolute() or other.parent != folder.resolve().parent:
            raise ValueError(f"{folder / 'model_index.json'}: {SHARED_PARTS_KEY} {source!r} must name a model "
                             f"folder beside this one (in {folder.resolve().parent})")
        if (other / part).exists():
            return complete_part(other / part)
    return own


# model_index.json keys of a folder converted by ``ortdiffusion quantize`` (quantization/precision.py writes them):
# the precision its weights are stored in, and for int8 copies the integer types chosen.
PRECISION_KEY = "_ortdiffusion_precision"
INT8_TYPES_KEY = "_ortdiffusion_int8_types"
INT8_PRECISIONS = ("int8", "int8-static")  # the precisions that record INT8_TYPES_KEY
# Folders whose weights LoRAs and ControlNet swaps can still rewrite: float32, or float32 compute on
# float16-stored weights (half_weights.py).
FLOAT_WEIGHT_PRECISIONS = ("fp32", "fp16-weights")


def folder_precision(folder: str | os.PathLike) -> str:
    """The precision an exported folder's weights are stored in ("fp32" unless converted by quantize)."""
    return str(read_config(Path(folder), "model_index.json").get(PRECISION_KEY, "fp32"))


def folder_int8_types(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The integer types an int8 copy records (``{"weights", "activations", "reduce_range"}``), None for
    other folders. An int8 copy made before they were recorded used int8 weights at full range with uint8
    activations, and gets that record."""
    index = read_config(Path(folder), "model_index.json")
    if index.get(PRECISION_KEY) not in INT8_PRECISIONS:
        return None
    recorded = index.get(INT8_TYPES_KEY)
    if isinstance(recorded, dict):
        return recorded
    return {"weights": "int8", "activations": "uint8", "reduce_range": False}
