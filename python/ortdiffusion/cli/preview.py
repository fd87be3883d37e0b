"""``generate --preview FILE``: a live preview of the denoising in a PNG file, rewritten after every step from the
current latents through the folder's tiny VAE decoder (``vae_decoder_tiny/``, pipelines' ``preview``), for an
image viewer that reloads it. Each picture is written beside the file and moved over it, so a viewer never reads
a half-written one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def check_preview_path(path: Path, out: Path) -> None:
    """Refuse a --preview path that is a folder, is not a .png, lies in a missing folder or is --out itself."""
    if path.is_dir():
        raise ValueError(f"--preview {str(path)!r} is a folder; give a file name, e.g. --preview {path / 'preview.png'}")
    if path.suffix.lower() != ".png":
        raise ValueError(f"--preview {str(path)!r}: previews are written as PNG; give a .png name")
    if not path.parent.is_dir():
        raise ValueError(f"--preview {str(path)!r}: the folder {str(path.parent)!r} does not exist; create it first")
    if path.resolve() == out.resolve():
        raise ValueError(f"--preview {str(path)!r} is the --out file; give the preview another name")


def preview_writer(pipe: Any, path: Path) -> Callable[..., dict]:
    """A ``callback_on_step_end`` that writes the tiny decoder's picture of the current latents to ``path`` after
    every step. ValueError, before any step, when the model folder has no tiny decoder (saying how to add one)."""
    if pipe.components.tiny_vae_decoder() is None:
        raise ValueError(
            f"--preview decodes each step with a tiny VAE decoder, and {pipe.components.folder} has none: add one with "
            "`ortdiffusion export ... --tiny-vae DIR` or ortdiffusion.exporter.tiny_vae.add_tiny_vae_decoder"
        )
    staging = path.with_name(f".{path.name}.partial")

    def write(pipeline: Any, step: int, timestep: Any, tensors: dict) -> dict:
        picture = pipeline.preview(tensors["latents"])
        picture.save(staging, format="PNG")
        os.replace(staging, path)
        return {}

    return write
