"""The optimisation loop and the denoising loss every diffusion part here trains with (base UNet, the
inpainting UNet, the ControlNet, the LoRAs): AdamW with warm-up + cosine decay (vae.lr_factor), gradient
clipping at 1, optional EMA of the weights, and a logged history of (step, loss, s/step)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ortdiffusion.training.ema import Ema
from ortdiffusion.training.vae import lr_factor

log = logging.getLogger(__name__)


@dataclass
class LoopOptions:
    """Arguments of :func:`optimise`."""

    steps: int
    lr: float
    warmup: int = 100
    ema_decay: float = 0.0  # 0: no EMA
    log_every: int = 50
    name: str = "train"  # the log lines' prefix


@dataclass
class DiffusionOptions:
    """What every denoising training here takes; the base model's defaults (the variants' option classes
    change some of them)."""

    steps: int = 3000
    batch_size: int = 32
    size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    caption_dropout: float = 0.1
    snr_gamma: float = 5.0  # Min-SNR-gamma weighting; 0 turns it off
    ema_decay: float = 0.999  # 0 turns EMA off
    dataset_size: int = 20000  # pictures encoded once; training draws batches from them
    seed: int = 1
    log_every: int = 50

    def loop(self, name: str) -> LoopOptions:
        """The optimisation loop's options, logging as ``name``."""
        return LoopOptions(self.steps, self.lr, self.warmup, self.ema_decay, self.log_every, name)


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights for epsilon prediction: ``min(SNR_t, gamma) / SNR_t`` with
    ``SNR_t = abar_t / (1 - abar_t)`` (Hang et al. 2023, eq. 9 with the epsilon-loss conversion)."""
    abar = alphas_cumprod[timesteps]
    snr = abar / (1.0 - abar)
    return torch.clamp(snr, max=gamma) / snr


def denoising_loss(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], latents: torch.Tensor, scheduler,
    generator: torch.Generator, snr_gamma: float,
) -> torch.Tensor:
    """DDPM's simplified loss (Ho et al. 2020, eq. 14), Min-SNR weighted when ``snr_gamma`` > 0:
    ``|| eps - predict(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t) ||^2`` with t uniform in [0, T)."""
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = torch.randint(scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator)
    noisy = scheduler.add_noise(latents, noise, timesteps)  # Ho et al. 2020, eq. 4
    per_sample = (predict(noisy, timesteps) - noise).pow(2).mean(dim=(1, 2, 3))
    if snr_gamma > 0:
        per_sample = per_sample * min_snr_weights(scheduler.alphas_cumprod, timesteps, snr_gamma)
    return per_sample.mean()


def optimise(
    params: list[torch.nn.Parameter], options: LoopOptions, loss_at: Callable[[int], torch.Tensor],
    ema_modules: list[torch.nn.Module] | None = None,
) -> list[dict[str, float]]:
    """Minimise ``loss_at(step)`` over ``params`` for ``options.steps`` steps; with ``ema_decay`` > 0 the
    EMA of ``ema_modules`` is copied into them at the end. Returns the logged history."""
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, options.warmup, options.steps))
    ema = Ema(ema_modules or [], options.ema_decay) if options.ema_decay > 0 else None
    history: list[dict[str, float]] = []
    running = 0.0
    start = time.perf_counter()
    for step in range(options.steps):
        loss = loss_at(step)
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
            log.info("%s step %d loss %.4f (%.3f s/step)", options.name, record["step"], record["loss"],
                     record["s_per_step"])
    if ema is not None:
        ema.copy_to_models()
    return history
