"""The non-graph parts of an exported folder in optimum's layout: ``model_index.json``, each component's
``config.json``, the tokenizer (with a ``tokenizer.json`` built when the source lacks one) and the
scheduler config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ortdiffusion.atomic_file import write_json_atomic
from ortdiffusion.clip_bpe import (
    build_clip_tokenizer,
    read_vocab_and_merges,
    vocab_and_merges_from_tokenizer_json,
    write_vocab_and_merges,
)

TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")

# The sub-folders of an exported pipeline, by role.
TEXT_ENCODER = "text_encoder"
UNET = "unet"
VAE_ENCODER = "vae_encoder"
VAE_DECODER = "vae_decoder"
TOKENIZER = "tokenizer"
SCHEDULER = "scheduler"


def copy_tokenizer(source: Path, destination: Path) -> None:
    """Copy a CLIP tokenizer folder, adding ``tokenizer.json`` (built from vocab.json + merges.txt) when
    the source has none, so the runtime needs only the ``tokenizers`` library, and vocab.json + merges.txt
    (from tokenizer.json) when the source has only that, so optimum and transformers' slow tokenizer can
    load the export too."""
    if not source.is_dir():
        raise FileNotFoundError(f"no tokenizer folder at {str(source)!r}")
    destination.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, destination / name)
    if not (destination / "tokenizer.json").is_file():
        if not ((source / "vocab.json").is_file() and (source / "merges.txt").is_file()):
            raise FileNotFoundError(f"{source} holds neither tokenizer.json nor vocab.json + merges.txt")
        build_clip_tokenizer(*read_vocab_and_merges(source)).save(str(destination / "tokenizer.json"))
    if not ((destination / "vocab.json").is_file() and (destination / "merges.txt").is_file()):
        write_vocab_and_merges(*vocab_and_merges_from_tokenizer_json(destination / "tokenizer.json"), destination)


def copy_config(source: Path, destination: Path, name: str) -> None:
    """Copy ``source/name`` (a component's config) into ``destination``, if present."""
    if (source / name).is_file():
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, destination / name)


def write_model_index(folder: Path, class_name: str, extra: dict[str, Any]) -> None:
    """``model_index.json`` naming the pipeline class and the exported components (ONNX Runtime models)."""
    index: dict[str, Any] = {
        "_class_name": class_name,
        TEXT_ENCODER: ["onnxruntime", "ORTModel"],
        UNET: ["onnxruntime", "ORTModel"],
        VAE_ENCODER: ["onnxruntime", "ORTModel"],
        VAE_DECODER: ["onnxruntime", "ORTModel"],
        TOKENIZER: ["transformers", "CLIPTokenizer"],
        SCHEDULER: ["diffusers", "DDIMScheduler"],
    }
    index.update(extra)
    write_json_atomic(folder / "model_index.json", index)


def read_model_index(folder: Path) -> dict[str, Any]:
    """The source pipeline's ``model_index.json`` (empty when there is none)."""
    path = folder / "model_index.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
