"""Torch batches from the shapes dataset: pixels in [-1, 1], tokenized captions with caption dropout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import CLIPTokenizer

from ortdiffusion.training import shapes
from ortdiffusion.training.models import MAX_TOKENS


def shipped_tokenizer() -> CLIPTokenizer:
    """The real CLIP tokenizer shipped in the package (ortdiffusion/data/clip_tokenizer)."""
    from importlib import resources

    return CLIPTokenizer.from_pretrained(Path(str(resources.files("ortdiffusion") / "data" / "clip_tokenizer")))


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> float32 [B, 3, H, W] in [-1, 1] (the VAE's input range, as diffusers'
    image processor: x / 127.5 - 1)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def pixel_batch(seed: int, start: int, count: int, size: int) -> tuple[torch.Tensor, list[str]]:
    """Items ``start`` .. ``start + count - 1`` of dataset ``seed`` as VAE input and captions."""
    images, captions = shapes.batch(seed, start, count, size)
    return to_pixels(images), captions


def tokenize(tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """Token ids [B, 77], padded and truncated exactly as the Stable Diffusion pipelines do."""
    return tokenizer(
        captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
    ).input_ids


def drop_captions(captions: list[str], probability: float, generator: torch.Generator) -> list[str]:
    """Replace each caption by ``""`` with ``probability``: classifier-free guidance training (the
    unconditional branch the pipelines run with the empty negative prompt)."""
    keep = torch.rand(len(captions), generator=generator) >= probability
    return [c if k else "" for c, k in zip(captions, keep.tolist())]


@torch.no_grad()
def encode_frozen(text_encoder: torch.nn.Module, tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """Hidden states [B, 77, width] of a frozen text encoder for ``captions`` (no gradient kept)."""
    return text_encoder(tokenize(tokenizer, captions))[0]
