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
from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ortdiffusion.training.data import drop_captions, pixel_batch, tokenize
from ortdiffusion.training.ema import Ema
from ortdiffusion.training.models import parameter_count, training_scheduler
from ortdiffusion.training.vae import lr_factor

log = logging.getLogger(__name__)


@dataclass
class BaseOptions:
    """Arguments of :func:`train_base`."""

    steps: int = 3000
    batch_size: int = 32
    size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    caption_dropout: float = 0.1
    snr_gamma: float = 5.0  # Min-SNR-gamma weighting; 0 turns it off
    ema_decay: float = 0.999  # 0 turns EMA off
    dataset_size: int = 20000  # images encoded once; training draws batches from them
    seed: int = 1  # a different dataset seed from the VAE's
    log_every: int = 50


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


@torch.no_grad()
def encode_dataset(vae: AutoencoderKL, seed: int, count: int, size: int, chunk: int = 128) -> LatentDataset:
    """Encode items 0 .. ``count`` - 1 of dataset ``seed`` once."""
    means, stds, captions = [], [], []
    for start in range(0, count, chunk):
        pixels, batch_captions = pixel_batch(seed, start, min(chunk, count - start), size)
        posterior = vae.encode(pixels).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
        captions.extend(batch_captions)
    return LatentDataset(torch.cat(means), torch.cat(stds), captions)


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights for epsilon prediction: ``min(SNR_t, gamma) / SNR_t`` with
    ``SNR_t = abar_t / (1 - abar_t)`` (Hang et al. 2023, eq. 9 with the epsilon-loss conversion)."""
    abar = alphas_cumprod[timesteps]
    snr = abar / (1.0 - abar)
    return torch.clamp(snr, max=gamma) / snr


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
    alphas_cumprod = scheduler.alphas_cumprod
    params = list(text_encoder.parameters()) + list(unet.parameters())
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, options.warmup, options.steps))
    ema = Ema([text_encoder, unet], options.ema_decay) if options.ema_decay > 0 else None
    text_encoder.train()
    unet.train()
    history: list[dict[str, float]] = []
    running = 0.0
    start = time.perf_counter()
    for step in range(options.steps):
        index = torch.randint(len(data.captions), (options.batch_size,), generator=generator)
        latents = data.sample(index, scaling_factor, generator)
        captions = drop_captions([data.captions[i] for i in index.tolist()], options.caption_dropout, generator)
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(scheduler.config.num_train_timesteps, (options.batch_size,), generator=generator)
        # x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps  (Ho et al. 2020, eq. 4)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        hidden = text_encoder(tokenize(tokenizer, captions))[0]
        prediction = unet(noisy, timesteps, encoder_hidden_states=hidden).sample
        per_sample = (prediction - noise).pow(2).mean(dim=(1, 2, 3))
        if options.snr_gamma > 0:
            per_sample = per_sample * min_snr_weights(alphas_cumprod, timesteps, options.snr_gamma)
        loss = per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.update()
        running += loss.item()
        if (step + 1) % options.log_every == 0 or step + 1 == options.steps:
            count = (step % options.log_every) + 1
            elapsed = time.perf_counter() - start
            record = {"step": step + 1, "loss": running / count, "s_per_step": elapsed / (step + 1)}
            running = 0.0
            history.append(record)
            log.info("base step %(step)d loss %(loss).4f (%(s_per_step).3f s/step)", record)
    if ema is not None:
        ema.copy_to_models()
    text_encoder.eval()
    unet.eval()
    return history
