"""Writing generated images as PNG with the generation parameters in text chunks: ``parameters`` in the
form other Stable Diffusion tools write and read (prompt, then ``Negative prompt:``, then ``Steps: ...``),
and ``ortdiffusion`` holding the same as JSON. Files are written to a temporary name in the destination
folder and renamed only when complete, so an interrupted run leaves no half-written image."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ortdiffusion.atomic_file import write_atomically


def parameters_text(params: Mapping[str, Any]) -> str:
    """The ``parameters`` chunk: prompt line, optional ``Negative prompt:`` line, then ``Key: value`` pairs
    (Steps, Sampler, CFG scale, Seed, Size, Model, ...)."""
    lines = [str(params.get("prompt", ""))]
    if params.get("negative_prompt"):
        lines.append(f"Negative prompt: {params['negative_prompt']}")
    names = {"steps": "Steps", "scheduler": "Sampler", "guidance_scale": "CFG scale", "seed": "Seed",
             "size": "Size", "model": "Model", "strength": "Denoising strength", "eta": "Eta", "loras": "Lora",
             "embeddings": "Embeddings", "clip_skip": "Clip skip", "vae": "VAE"}
    pairs = [f"{label}: {params[key]}" for key, label in names.items() if params.get(key) is not None]
    if params.get("prompt_syntax") == "plain":  # AUTOMATIC1111's syntax is the default there: say when it was off
        pairs.append("Prompt syntax: plain")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def read_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The ``ortdiffusion`` JSON chunk of a PNG written by :func:`save_png`."""
    with Image.open(path) as image:
        text = image.text.get("ortdiffusion") if hasattr(image, "text") else None
    if text is None:
        raise ValueError(f"{path} carries no ortdiffusion parameters")
    return json.loads(text)


def _png_info(params: Mapping[str, Any]) -> PngInfo:
    info = PngInfo()
    info.add_text("parameters", parameters_text(params))
    info.add_text("ortdiffusion", json.dumps(dict(params), sort_keys=True))
    return info


def save_png(image: Image.Image, path: str | os.PathLike, params: Mapping[str, Any]) -> Path:
    """Save ``image`` as PNG at ``path`` with ``params`` in text chunks, atomically; returns the path."""
    info = _png_info(params)
    return write_atomically(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info), mode=0o644)


def png_bytes(image: Image.Image, params: Mapping[str, Any]) -> bytes:
    """``image`` as PNG bytes with the same text chunks as :func:`save_png` (the server's responses)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=_png_info(params))
    return buffer.getvalue()
