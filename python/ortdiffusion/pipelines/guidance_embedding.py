"""The guidance-scale embedding an LCM-distilled UNet takes as ``timestep_cond`` (diffusers'
``StableDiffusionPipeline.get_guidance_scale_embedding``, from VDM: the sinusoidal embedding of
``1000 (guidance_scale - 1)``)."""

from __future__ import annotations

import numpy as np


def guidance_scale_embedding(guidance_scale: float, batch_size: int, embedding_dim: int) -> np.ndarray:
    """(batch_size, embedding_dim) float32: [sin(w f), cos(w f)] with w = 1000 (guidance_scale - 1) and
    f_k = exp(-k log(10000) / (embedding_dim // 2 - 1)), zero-padded to an odd ``embedding_dim``."""
    if embedding_dim < 4:
        raise ValueError(f"time_cond_proj_dim must be at least 4 for the guidance embedding, got {embedding_dim}")
    w = np.full((batch_size,), np.float32(guidance_scale - 1), dtype=np.float32) * np.float32(1000.0)
    half_dim = embedding_dim // 2
    step = np.log(np.float32(10000.0)) / np.float32(half_dim - 1)
    frequencies = np.exp(np.arange(half_dim, dtype=np.float32) * -step)
    angles = w[:, None] * frequencies[None, :]
    embedding = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    if embedding_dim % 2 == 1:
        embedding = np.pad(embedding, ((0, 0), (0, 1)))
    return embedding.astype(np.float32, copy=False)
