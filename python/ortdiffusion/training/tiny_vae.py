"""Distil a tiny VAE decoder (diffusers' AutoencoderTiny, the TAESD architecture) for an exported model: it learns
to map the latents the UNet works in (scaled by the VAE's scaling factor, which AutoencoderTiny's decoder takes
as they are) to the pictures the model's own decoder draws from them. Training latents are posterior samples of
the folder's ONNX VAE encoder on the shapes dataset; targets are the folder's ONNX decoder's pictures of the same
latents, so the tiny decoder is a drop-in for that decoder (TAESD is distilled from SD's decoder the same way,
with adversarial terms this flat-colour data does not need). Loss: mean squared error in [-1, 1]."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderTiny

from ortdiffusion.training.lcm_lora import encode_with_export
from ortdiffusion.training.loop import LoopOptions, optimise

log = logging.getLogger(__name__)


@dataclass
class TinyVaeOptions:
    """Arguments of :func:`train_tiny_vae`."""

    steps: int = 3000
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 50
    channels: int = 32
    dataset_size: int = 4000
    seed: int = 6
    log_every: int = 100


def build_tiny_vae(blocks: int, channels: int, latent_channels: int) -> AutoencoderTiny:
    """An AutoencoderTiny whose decoder upsamples ``blocks - 1`` times (the model's VAE scale factor is
    2 ** (blocks - 1)), one block of ``channels`` per level; its encoder is the same size (unused here)."""
    widths = (channels,) * blocks
    return AutoencoderTiny(encoder_block_out_channels=widths, decoder_block_out_channels=widths,
                           num_encoder_blocks=(1,) * blocks, num_decoder_blocks=(1,) * blocks,
                           latent_channels=latent_channels)


def train_tiny_vae(options: TinyVaeOptions, folder: Path) -> tuple[AutoencoderTiny, list[dict[str, float]]]:
    """Distil a tiny decoder for the exported pipeline ``folder``; returns it and the training history."""
    import ortdiffusion as od

    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    start = time.perf_counter()
    data = encode_with_export(folder, options.dataset_size, options.seed)
    pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    components = pipe.components
    latents = data.latents.sample(torch.arange(len(data.latents.captions)), data.scaling_factor, generator)
    targets = []
    for chunk in torch.split(latents, 256):
        raw = (chunk / data.scaling_factor).numpy()
        targets.append(torch.from_numpy(components.vae_decoder.run(latent_sample=raw)[0].astype(np.float32)))
    pictures = torch.cat(targets).clamp(-1, 1)
    blocks = len(components.vae_config.get("block_out_channels", (0,) * 4))
    vae = build_tiny_vae(blocks, options.channels, components.latent_channels)
    log.info("decoded %d training pictures with the model's decoder in %.1f s; tiny decoder %d parameters",
             len(pictures), time.perf_counter() - start, sum(p.numel() for p in vae.decoder.parameters()))
    params = list(vae.decoder.parameters())
    vae.train()

    def loss_at(step: int) -> torch.Tensor:
        index = torch.randint(len(pictures), (options.batch_size,), generator=generator)
        return torch.nn.functional.mse_loss(vae.decode(latents[index]).sample, pictures[index])

    history = optimise(params, LoopOptions(options.steps, options.lr, options.warmup, 0.0, options.log_every,
                                           "tiny-vae"), loss_at)
    vae.eval()
    return vae, history
