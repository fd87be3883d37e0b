"""Train the text encoder and the UNet jointly (epsilon prediction) on latents of a trained, frozen VAE.

The objective is DDPM's simplified loss (Ho et al. 2020, "Denoising Diffusion Probabilistic Models",
eq. 14): ``|| eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t, c) ||^2`` with t uniform in
[0, 1000) and the betas of the pipelines' DDIMScheduler, optionally weighted by Min-SNR-gamma (Hang et al.
2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy") to converge faster. Captions are
dropped to "" with probability ``caption_dropout`` so the model also learns the unconditional branch of
classifier-free guidance (Ho & Salimans 2022).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ortdiffusion.training.data import drop_captions, pixel_batch, tokenize
from ortdiffusion.training.loop import DiffusionOptions, denoising_loss, optimise
from ortdiffusion.training.models import parameter_count, training_scheduler

log = logging.getLogger(__name__)


@dataclass
class BaseOptions(DiffusionOptions):
    """Arguments of :func:`train_base` (seed 1: a different dataset seed from the VAE's)."""


@dataclass
class LatentDataset:
    """Posterior parameters of the VAE for a fixed set of images, with their captions."""

    mean: torch.Tensor  # [N, C, h, w]
    std: torch.Tensor  # [N, C, h, w]
    captions: list[str]

    def sample(self, index: torch.Tensor, scaling_factor: float, generator: torch.Generator) -> torch.Tensor:
        """Scaled posterior samples ``(mean + std * n) * scaling_factor`` (diffusers' training scripts:
        ``vae.encode(x).latent_dist.sample() * vae.config.scaling_factor``)."""
        noise = torch.randn(self.mean[index].shape, generator=generator)
        return (self.mean[index] + self.std[index] * noise) * scaling_factor

    def draw(self, batch_size: int, scaling_factor: float, caption_dropout: float,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """A training batch drawn from ``generator`` in this order: indices, scaled latent samples, and
        their captions with dropout (see drop_captions)."""
        index = torch.randint(len(self.captions), (batch_size,), generator=generator)
        latents = self.sample(index, scaling_factor, generator)
        captions = drop_captions([self.captions[i] for i in index.tolist()], caption_dropout, generator)
        return index, latents, captions


@torch.no_grad()
def encode_batches(
    vae: AutoencoderKL, batch_at: Callable[[int, int], tuple[torch.Tensor, list[str]]], count: int, chunk: int = 128,
) -> LatentDataset:
    """Encode items 0 .. ``count`` - 1 given by ``batch_at(start, n)`` (pixels in [-1, 1], captions) once."""
    means, stds, captions = [], [], []
    for start in range(0, count, chunk):
        pixels, batch_captions = batch_at(start, min(chunk, count - start))
        posterior = vae.encode(pixels).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
        captions.extend(batch_captions)
    return LatentDataset(torch.cat(means), torch.cat(stds), captions)


def encode_dataset(vae: AutoencoderKL, seed: int, count: int, size: int, chunk: int = 128) -> LatentDataset:
    """Encode items 0 .. ``count`` - 1 of dataset ``seed`` once."""
    return encode_batches(vae, lambda start, n: pixel_batch(seed, start, n, size), count, chunk)


def train_base(
    options: BaseOptions, vae: AutoencoderKL, text_encoder: CLIPTextModel, unet: UNet2DConditionModel,
    tokenizer: CLIPTokenizer,
) -> list[dict[str, float]]:
    """Train ``text_encoder`` and ``unet`` in place (the EMA weights are copied in at the end); returns the
    logged history (step, loss, s/step)."""
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    scaling_factor = float(vae.config.scaling_factor)
    start = time.perf_counter()
    vae.eval()
    data = encode_dataset(vae, options.seed, options.dataset_size, options.size)
    log.info("encoded %d images in %.1f s", len(data.captions), time.perf_counter() - start)
    log.info("text encoder %d, UNet %d parameters", parameter_count(text_encoder), parameter_count(unet))
    scheduler = training_scheduler()
    text_encoder.train()
    unet.train()

    def loss_at(step: int) -> torch.Tensor:
        _, latents, captions = data.draw(options.batch_size, scaling_factor, options.caption_dropout, generator)
        hidden = text_encoder(tokenize(tokenizer, captions))[0]
        return denoising_loss(lambda noisy, t: unet(noisy, t, encoder_hidden_states=hidden).sample, latents,
                              scheduler, generator, options.snr_gamma)

    history = optimise(list(text_encoder.parameters()) + list(unet.parameters()), options.loop("base"), loss_at,
                       [text_encoder, unet])
    text_encoder.eval()
    unet.eval()
    return history
