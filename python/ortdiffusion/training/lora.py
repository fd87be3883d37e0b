"""Train a style LoRA with peft on the frozen base UNet and save it the way people download them: a
diffusers-layout ``pytorch_lora_weights.safetensors`` (``StableDiffusionPipeline.save_lora_weights``, keys
``unet.<module>.lora.down.weight``), as diffusers' examples/text_to_image/train_text_to_image_lora.py does.

The pictures are the base dataset's attributes drawn in a style (styles.py) and captioned with the base
caption, so at inference the LoRA changes how any prompt is drawn. Rank == alpha, so the file needs no
alpha entries and scale 1 is the trained strength.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from transformers import CLIPTextModel, CLIPTokenizer

from ortdiffusion.training.base import encode_batches
from ortdiffusion.training.data import encode_frozen, to_pixels
from ortdiffusion.training.loop import DiffusionOptions, denoising_loss, optimise
from ortdiffusion.training.models import training_scheduler
from ortdiffusion.training.styles import styled_batch

log = logging.getLogger(__name__)

# attention projections, feed-forward and transformer in/out projections, and the ResNet convolutions
# (a style that redraws shapes as outlines is spatial; attention alone at 8x8 and 4x4 is not enough)
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
                  "conv1", "conv2"]


@dataclass
class LoraOptions(DiffusionOptions):
    """Arguments of :func:`train_lora`; the base's defaults otherwise."""

    style: str = "outline"
    rank: int = 8
    steps: int = 500
    lr: float = 2e-3
    warmup: int = 20
    ema_decay: float = 0.0  # the adapter is small; no EMA
    dataset_size: int = 4000
    seed: int = 4


def train_lora(
    options: LoraOptions, vae: AutoencoderKL, text_encoder: CLIPTextModel, unet: UNet2DConditionModel,
    tokenizer: CLIPTokenizer,
) -> list[dict[str, float]]:
    """Add a peft LoRA adapter to ``unet`` (``unet.add_adapter``) and train it on ``options.style``;
    returns the history. The base weights stay frozen."""
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    scaling = float(vae.config.scaling_factor)
    start = time.perf_counter()
    vae.eval()
    text_encoder.requires_grad_(False)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=options.rank, lora_alpha=options.rank, init_lora_weights="gaussian",
                                target_modules=TARGET_MODULES))
    params = [p for p in unet.parameters() if p.requires_grad]

    def pictures(begin: int, n: int) -> tuple[torch.Tensor, list[str]]:
        images, captions = styled_batch(options.style, options.seed, begin, n, options.size)
        return to_pixels(images), captions

    data = encode_batches(vae, pictures, options.dataset_size)
    log.info("encoded %d %s pictures in %.1f s; %d LoRA parameters", options.dataset_size, options.style,
             time.perf_counter() - start, sum(p.numel() for p in params))
    scheduler = training_scheduler()
    unet.train()

    def loss_at(step: int) -> torch.Tensor:
        _, latents, captions = data.draw(options.batch_size, scaling, options.caption_dropout, generator)
        hidden = encode_frozen(text_encoder, tokenizer, captions)
        return denoising_loss(lambda noisy, t: unet(noisy, t, encoder_hidden_states=hidden).sample, latents,
                              scheduler, generator, options.snr_gamma)

    history = optimise(params, options.loop(f"lora-{options.style}"), loss_at)
    unet.eval()
    return history


def save_lora(unet: UNet2DConditionModel, out: Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``unet``'s peft adapter as ``out/pytorch_lora_weights.safetensors`` (diffusers layout), with
    ``metadata`` added to the file's own."""
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=layers, safe_serialization=True)
    path = out / "pytorch_lora_weights.safetensors"
    if metadata:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
            merged = {**(f.metadata() or {}), **metadata}
        save_file(tensors, str(path), metadata=merged)
    return path
