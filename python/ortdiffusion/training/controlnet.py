"""Train a Canny-edge ControlNet on the frozen base pipeline (Zhang et al. 2023, "Adding Conditional
Control to Text-to-Image Diffusion Models"; diffusers' examples/controlnet/train_controlnet.py).

The ControlNet starts as a copy of the base UNet's encoder (``ControlNetModel.from_unet``) with zero
convolutions on its outputs, so step 0 is exactly the base model. The conditioning embedding downsamples by
the VAE's factor (4 here, not SD's 8). Control images are the Canny edges of the training pictures made
by the same function the CLI's ``--canny`` uses (``ortdiffusion.image.canny``, thresholds 100/200), as
float RGB in [0, 1] (diffusers' control image processor: no normalisation). Captions are dropped more
often than for the base (``caption_dropout`` 0.3; the paper drops 50%) so the edges alone must place the
shape.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ortdiffusion.image import canny
from ortdiffusion.training import shapes
from ortdiffusion.training.base import encode_dataset
from ortdiffusion.training.data import encode_frozen
from ortdiffusion.training.loop import DiffusionOptions, denoising_loss, optimise
from ortdiffusion.training.models import training_scheduler

log = logging.getLogger(__name__)


@dataclass
class ControlNetOptions(DiffusionOptions):
    """Arguments of :func:`train_controlnet`; the base's defaults otherwise."""

    steps: int = 1200
    lr: float = 5e-4
    warmup: int = 50
    caption_dropout: float = 0.3
    ema_decay: float = 0.995
    dataset_size: int = 6000
    seed: int = 3


def build_controlnet(unet: UNet2DConditionModel, vae_factor: int) -> ControlNetModel:
    """A ControlNet copied from ``unet`` whose conditioning embedding downsamples pixels by ``vae_factor``
    (one stride-2 block per factor of 2)."""
    blocks = int(np.log2(vae_factor)) + 1
    channels = (16, 32, 64, 128)[:blocks]
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=channels)


def control_images(seed: int, count: int, size: int) -> torch.Tensor:
    """Canny edges of items 0 .. ``count`` - 1 of dataset ``seed`` as float [count, 3, size, size] in [0, 1]."""
    edges = np.stack([np.asarray(canny(shapes.sample_at(seed, i, size).image)) for i in range(count)])
    return torch.from_numpy(edges).permute(0, 3, 1, 2).float() / 255.0


def train_controlnet(
    options: ControlNetOptions, vae: AutoencoderKL, text_encoder: CLIPTextModel, unet: UNet2DConditionModel,
    controlnet: ControlNetModel, tokenizer: CLIPTokenizer,
) -> list[dict[str, float]]:
    """Train ``controlnet`` in place with everything else frozen; returns the history."""
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    scaling = float(vae.config.scaling_factor)
    start = time.perf_counter()
    vae.eval()
    text_encoder.requires_grad_(False)
    unet.requires_grad_(False)
    unet.eval()
    data = encode_dataset(vae, options.seed, options.dataset_size, options.size)
    conditions = control_images(options.seed, options.dataset_size, options.size)
    log.info("encoded %d pictures and their edges in %.1f s", options.dataset_size, time.perf_counter() - start)
    scheduler = training_scheduler()
    controlnet.train()

    def loss_at(step: int) -> torch.Tensor:
        index, latents, captions = data.draw(options.batch_size, scaling, options.caption_dropout, generator)
        hidden = encode_frozen(text_encoder, tokenizer, captions)

        def predict(noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            down, mid = controlnet(noisy, t, encoder_hidden_states=hidden, controlnet_cond=conditions[index],
                                   return_dict=False)
            return unet(noisy, t, encoder_hidden_states=hidden, down_block_additional_residuals=down,
                        mid_block_additional_residual=mid).sample

        return denoising_loss(predict, latents, scheduler, generator, options.snr_gamma)

    history = optimise(list(controlnet.parameters()), options.loop("controlnet"), loss_at, [controlnet])
    controlnet.eval()
    return history
