"""Train the tiny AutoencoderKL on the shapes dataset, then measure its latent scaling factor.

Loss: L1 + MSE reconstruction of the decoded posterior sample plus a small KL term towards N(0, I), the
KL-regularised autoencoder of Rombach et al. 2022 ("High-Resolution Image Synthesis with Latent Diffusion
Models", sec. 3 and appendix G) without its perceptual and adversarial terms (flat-coloured shapes do not
need them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from ortdiffusion.training.data import pixel_batch
from ortdiffusion.training.models import build_vae, parameter_count

log = logging.getLogger(__name__)


@dataclass
class VaeOptions:
    """Arguments of :func:`train_vae`."""

    steps: int = 2000
    batch_size: int = 16
    size: int = 64
    lr: float = 2e-3
    warmup: int = 50
    kl_weight: float = 1e-6  # on the KL summed over latent elements, vs the per-pixel mean L1
    seed: int = 0
    log_every: int = 50


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 10% at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + float(torch.cos(torch.tensor(progress * torch.pi))))


def train_vae(options: VaeOptions, vae: AutoencoderKL | None = None) -> tuple[AutoencoderKL, list[dict[str, float]]]:
    """Train (a fresh or the given) VAE; returns it and the logged history (step, loss, l1, kl, s/step)."""
    torch.manual_seed(options.seed)
    vae = vae if vae is not None else build_vae(sample_size=options.size)
    log.info("VAE: %d parameters", parameter_count(vae))
    optimizer = torch.optim.AdamW(vae.parameters(), lr=options.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, options.warmup, options.steps))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    vae.train()
    for step in range(options.steps):
        pixels, _ = pixel_batch(options.seed, step * options.batch_size, options.batch_size, options.size)
        posterior = vae.encode(pixels).latent_dist
        decoded = vae.decode(posterior.sample()).sample
        l1 = (decoded - pixels).abs().mean()
        mse = (decoded - pixels).pow(2).mean()
        kl = posterior.kl().mean()  # 0.5 * sum(mu^2 + var - 1 - log var) per sample
        loss = l1 + mse + options.kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % options.log_every == 0 or step + 1 == options.steps:
            elapsed = time.perf_counter() - start
            record = {"step": step + 1, "loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "kl": kl.item(),
                      "s_per_step": elapsed / (step + 1)}
            history.append(record)
            log.info("vae step %(step)d loss %(loss).4f l1 %(l1).4f mse %(mse).4f kl %(kl).1f (%(s_per_step).3f s/step)", record)
    vae.eval()
    return vae, history


@torch.no_grad()
def measure_scaling_factor(vae: AutoencoderKL, seed: int, count: int = 512, size: int = 64) -> float:
    """1 / std of posterior samples over ``count`` held-out images (a dataset seed the training never saw),
    as diffusers' scaling_factor (SD: 0.18215, Rombach et al. 2022 sec. 4.3.2 / appendix G)."""
    latents = []
    for start in range(0, count, 64):
        pixels, _ = pixel_batch(seed, start, min(64, count - start), size)
        latents.append(vae.encode(pixels).latent_dist.sample())
    return float(1.0 / torch.cat(latents).flatten().std())


@torch.no_grad()
def reconstruction_error(vae: AutoencoderKL, seed: int, count: int = 256, size: int = 64) -> dict[str, float]:
    """Mean absolute error (in [0, 255] units) and PSNR of posterior-mean reconstructions of held-out images."""
    errors, squares = [], []
    for start in range(0, count, 64):
        pixels, _ = pixel_batch(seed, start, min(64, count - start), size)
        decoded = vae.decode(vae.encode(pixels).latent_dist.mode()).sample.clamp(-1, 1)
        diff = (decoded - pixels) * 127.5
        errors.append(diff.abs().mean())
        squares.append(diff.pow(2).mean())
    mse = float(torch.stack(squares).mean())
    # PSNR = 10 log10(255^2 / MSE)
    return {"mae": float(torch.stack(errors).mean()), "psnr": 10.0 * float(torch.log10(torch.tensor(255.0**2 / mse)))}


def finish_vae(vae: AutoencoderKL, folder: Path, seed: int, size: int) -> float:
    """Measure the scaling factor, write it into the config (``register_to_config``, as diffusers stores
    it in config.json) and save the VAE to ``folder``; returns the factor."""
    factor = measure_scaling_factor(vae, seed, size=size)
    vae.register_to_config(scaling_factor=factor)
    vae.save_pretrained(folder)
    log.info("VAE scaling_factor %.5f saved to %s", factor, folder)
    return factor
