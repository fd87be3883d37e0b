"""Fine-tune the base UNet into a 9-channel inpainting UNet (the layout of runwayml's
stable-diffusion-inpainting and diffusers' StableDiffusionInpaintPipeline): input = noisy latents (4),
the mask at latent resolution (1), the latents of the masked picture (4).

Initialisation follows the SD inpainting recipe: the base UNet's weights, with ``conv_in`` widened to 9
channels whose 5 extra input channels start at zero, so step 0 is exactly the base model. The text encoder
and VAE stay frozen. Masked pictures are made as the pipeline makes them
(``masked_image = image * (mask < 0.5)`` in [-1, 1], diffusers' ``prepare_mask_latents``), the mask is
brought to latent size by nearest-neighbour subsampling, and the masked picture's latents are posterior
samples times the scaling factor, like the pipeline's ``_encode_vae_image``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ortdiffusion.training import shapes
from ortdiffusion.training.base import encode_batches
from ortdiffusion.training.data import drop_captions, encode_frozen, to_pixels
from ortdiffusion.training.inpaint_masks import training_mask
from ortdiffusion.training.loop import DiffusionOptions, denoising_loss, optimise
from ortdiffusion.training.models import training_scheduler

log = logging.getLogger(__name__)
INPAINT_CHANNELS = 9  # latents 4 + mask 1 + masked-image latents 4


@dataclass
class InpaintOptions(DiffusionOptions):
    """Arguments of :func:`train_inpaint`; the base's defaults otherwise."""

    steps: int = 2000
    warmup: int = 50
    ema_decay: float = 0.995
    dataset_size: int = 6000
    seed: int = 2


def widen_to_inpainting(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """A 9-input-channel copy of ``unet``: every weight copied, ``conv_in``'s extra 5 input channels zero."""
    config = {**unet.config, "in_channels": INPAINT_CHANNELS}
    widened = UNet2DConditionModel.from_config(config)
    state = unet.state_dict()
    weight = state.pop("conv_in.weight")
    widened.load_state_dict(state, strict=False)
    with torch.no_grad():
        widened.conv_in.weight.zero_()
        widened.conv_in.weight[:, : weight.shape[1]] = weight
    return widened


def masked_batch(seed: int, start: int, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Pixels [count, 3, size, size] in [-1, 1], masks [count, 1, size, size] (1 = repaint) and captions of
    items ``start`` .. of dataset ``seed``."""
    samples = [shapes.sample_at(seed, start + i, size) for i in range(count)]
    masks = np.stack([training_mask(seed, start + i, s.attributes, size) for i, s in enumerate(samples)])
    pixels = to_pixels(np.stack([s.image for s in samples]))
    return pixels, torch.from_numpy(masks).float()[:, None], [s.caption for s in samples]


def train_inpaint(
    options: InpaintOptions, vae: AutoencoderKL, text_encoder: CLIPTextModel, unet: UNet2DConditionModel,
    tokenizer: CLIPTokenizer,
) -> list[dict[str, float]]:
    """Train the 9-channel ``unet`` (see :func:`widen_to_inpainting`) in place; returns the history."""
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    scaling = float(vae.config.scaling_factor)
    start = time.perf_counter()
    vae.eval()
    text_encoder.requires_grad_(False)
    pixels, masks, captions = masked_batch(options.seed, 0, options.dataset_size, options.size)  # drawn once
    data = encode_batches(vae, lambda begin, n: (pixels[begin:begin + n], captions[begin:begin + n]),
                          options.dataset_size)
    masked = encode_batches(
        vae, lambda begin, n: (pixels[begin:begin + n] * (masks[begin:begin + n] < 0.5), captions[begin:begin + n]),
        options.dataset_size)
    latent_masks = masks[:, :, ::factor, ::factor]  # F.interpolate(mode="nearest") to the latent size
    log.info("encoded %d pictures and their masked copies in %.1f s", options.dataset_size, time.perf_counter() - start)
    scheduler = training_scheduler()
    unet.train()

    def loss_at(step: int) -> torch.Tensor:
        index = torch.randint(options.dataset_size, (options.batch_size,), generator=generator)
        latents = data.sample(index, scaling, generator)
        condition = torch.cat([latent_masks[index], masked.sample(index, scaling, generator)], dim=1)
        captions = drop_captions([data.captions[i] for i in index.tolist()], options.caption_dropout, generator)
        hidden = encode_frozen(text_encoder, tokenizer, captions)
        return denoising_loss(
            lambda noisy, t: unet(torch.cat([noisy, condition], dim=1), t, encoder_hidden_states=hidden).sample,
            latents, scheduler, generator, options.snr_gamma)

    history = optimise(list(unet.parameters()), options.loop("inpaint"), loss_at, [unet])
    unet.eval()
    return history
