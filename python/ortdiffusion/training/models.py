"""Architectures of the tiny trainable Stable Diffusion 1.x parts, built from scratch (no download).

Sizes for 64x64 pictures: a three-block AutoencoderKL (scale factor 4, so 16x16x4 latents), a CLIPTextModel
of width ``TEXT_WIDTH`` (its 49408 x width token embedding dominates the exported size) and a three-level
UNet2DConditionModel with cross-attention at 8x8 and 4x4. Every builder takes keyword overrides so the
trials can scale a part without editing this file.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

TEXT_WIDTH = 32  # text encoder hidden size = UNet cross-attention dim
CLIP_VOCAB = 49408
CLIP_BOS, CLIP_EOS = 49406, 49407
MAX_TOKENS = 77  # the pipelines always pad prompts to 77 tokens

VAE_KWARGS: dict[str, Any] = {
    "block_out_channels": (16, 32, 32),
    "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3,
    "layers_per_block": 1,
    "latent_channels": 4,
    # GroupNorm with one channel per group (16 groups over 16 channels) is instance norm: it erases the
    # flat colours this dataset is made of and the VAE learns ~3x slower (PSNR 14 vs 21 after 300 steps).
    "norm_num_groups": 4,
    "sample_size": 64,
}

TEXT_KWARGS: dict[str, Any] = {
    "hidden_size": TEXT_WIDTH,
    "intermediate_size": 2 * TEXT_WIDTH,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}

UNET_KWARGS: dict[str, Any] = {
    "sample_size": 16,
    "block_out_channels": (32, 64, 64),
    # cross-attention at 8x8 and 4x4 (and the mid block) only: attention at 16x16 doubles the step time
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "layers_per_block": 1,
    "norm_num_groups": 8,  # 4+ channels per group, as for the VAE
    "attention_head_dim": 4,  # diffusers' historical name: the number of heads
    "cross_attention_dim": TEXT_WIDTH,
}

# The noise schedule of the DDIMScheduler the pipelines ship (scheduler_config.json); training uses DDPM
# with exactly these betas so the sampler inverts the same forward process.
SCHEDULE_KWARGS: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "epsilon",
}


def build_vae(**overrides: Any) -> AutoencoderKL:
    """A fresh AutoencoderKL (``VAE_KWARGS`` updated with ``overrides``)."""
    return AutoencoderKL(in_channels=3, out_channels=3, **{**VAE_KWARGS, **overrides})


def build_text_encoder(**overrides: Any) -> CLIPTextModel:
    """A fresh CLIPTextModel over the real CLIP vocabulary (``TEXT_KWARGS`` updated with ``overrides``)."""
    config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB, max_position_embeddings=MAX_TOKENS, bos_token_id=CLIP_BOS, eos_token_id=CLIP_EOS,
        pad_token_id=CLIP_EOS, **{**TEXT_KWARGS, **overrides},
    )
    return CLIPTextModel(config)


def build_unet(in_channels: int = 4, **overrides: Any) -> UNet2DConditionModel:
    """A fresh UNet2DConditionModel (9 input channels for inpainting)."""
    return UNet2DConditionModel(in_channels=in_channels, out_channels=4, **{**UNET_KWARGS, **overrides})


def training_scheduler() -> DDPMScheduler:
    """The forward (noising) process used in training."""
    return DDPMScheduler(**SCHEDULE_KWARGS)


def sampling_scheduler() -> DDIMScheduler:
    """The DDIMScheduler the exported pipeline uses (same config as scripts/build_default_model.py)."""
    return DDIMScheduler(**SCHEDULE_KWARGS, clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def parameter_count(module: torch.nn.Module) -> int:
    """Number of parameters (float32 bytes = 4 x this)."""
    return sum(p.numel() for p in module.parameters())
