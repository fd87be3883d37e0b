"""Distil an LCM-LoRA for an exported model: latent consistency distillation (Luo et al. 2023, "Latent
Consistency Models", Algorithm 1) with a LoRA student, the recipe of LCM-LoRA (Luo et al. 2023, "LCM-LoRA")
and of diffusers' examples/consistency_distillation/train_lcm_distill_lora_sd_wds.py:

- teacher: the frozen base UNet with classifier-free guidance, w drawn in [w_min, w_max] per sample
  (``pred = cond + w (cond - uncond)``, i.e. a guidance scale of w + 1);
- ODE solver: one DDIM step (Song et al. 2021, eq. 12 with eta 0) from ``t_{n+k}`` to ``t_n``, the timesteps
  being N = ``ddim_steps`` of the 1000, k = 1000 / N apart (the LCMScheduler's ``original_inference_steps``);
- student: the same UNet plus a LoRA, as a consistency function ``f(x, t) = c_skip(t) x + c_out(t) x0(x, t)``
  (LCM eq. 9; c_skip, c_out with diffusers' timestep scaling 10, LCMScheduler's boundary condition);
- target: the student itself (no gradient) at ``t_n`` on the solver's ``x_{t_n}`` (LCM-LoRA's scripts use no
  EMA target); loss: pseudo-Huber with c = 0.001.

The teacher is the folder's own UNet rebuilt in torch from its ONNX weights (exported_unet.py), and the
training latents and text embeddings come from the folder's ONNX VAE encoder and text encoder, so the LoRA is
distilled against exactly what the pipelines run."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig

from ortdiffusion.training import shapes
from ortdiffusion.training.base import LatentDataset
from ortdiffusion.training.exported_unet import unet_from_export
from ortdiffusion.training.loop import LoopOptions, optimise
from ortdiffusion.training.models import training_scheduler

log = logging.getLogger(__name__)

# LCM-LoRA's targets for SD 1.5 (diffusers' train_lcm_distill_lora_sd_wds.py): attention, feed-forward,
# transformer projections, ResNet convolutions and time projections, the resamplers
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
                  "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv", "time_emb_proj"]
SIGMA_DATA = 0.5
TIMESTEP_SCALING = 10.0  # LCMScheduler's timestep_scaling default


@dataclass
class LcmOptions:
    """Arguments of :func:`train_lcm_lora`."""

    steps: int = 1500
    batch_size: int = 32
    rank: int = 16
    lr: float = 1e-3
    warmup: int = 50
    ddim_steps: int = 50  # N; the LCMScheduler's original_inference_steps
    w_min: float = 3.0  # guidance w (scale w + 1) drawn uniformly in [w_min, w_max]
    w_max: float = 9.0
    huber_c: float = 0.001
    dataset_size: int = 8000
    seed: int = 5
    log_every: int = 50


def boundary_scalings(timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """c_skip(t), c_out(t) of the consistency function (LCM eq. 9; diffusers'
    ``LCMScheduler.get_scalings_for_boundary_condition_discrete``): with s = 10 t,
    c_skip = sigma_data^2 / (s^2 + sigma_data^2), c_out = s / sqrt(s^2 + sigma_data^2)."""
    scaled = TIMESTEP_SCALING * timesteps.float()
    c_skip = SIGMA_DATA**2 / (scaled**2 + SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + SIGMA_DATA**2) ** 0.5
    return c_skip.view(-1, 1, 1, 1), c_out.view(-1, 1, 1, 1)


@dataclass
class DdimSolver:
    """The N skipping timesteps ``t_i = (i + 1) * (T / N) - 1`` and one DDIM step between neighbours
    (diffusers' ``DDIMSolver`` in the LCM distillation scripts)."""

    alphas_cumprod: torch.Tensor
    steps: int

    def __post_init__(self) -> None:
        total = len(self.alphas_cumprod)
        self.skip = total // self.steps
        self.timesteps = torch.arange(1, self.steps + 1) * self.skip - 1
        self.alpha = self.alphas_cumprod[self.timesteps]
        self.alpha_prev = torch.cat([self.alphas_cumprod[:1], self.alphas_cumprod[self.timesteps[:-1]]])

    def step(self, x0: torch.Tensor, eps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x at ``t_{index - 1}`` from the predictions at ``t_index`` (DDIM, eta 0)."""
        prev = self.alpha_prev[index].view(-1, 1, 1, 1)
        return prev.sqrt() * x0 + (1 - prev).sqrt() * eps


def predicted_x0(eps: torch.Tensor, x: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) (DDPM, Ho et al. 2020, eq. 15), abar per sample."""
    abar = alphas.view(-1, 1, 1, 1)
    return (x - (1 - abar).sqrt() * eps) / abar.sqrt()


@dataclass
class EncodedData:
    """Latent posteriors and text embeddings of the training pictures, from the exported folder's encoders."""

    latents: LatentDataset
    embeddings: torch.Tensor  # [N, 77, D]
    empty: torch.Tensor  # [1, 77, D]: the empty prompt (the pipelines' unconditional branch)
    scaling_factor: float


def encode_with_export(folder: Path, count: int, seed: int, chunk: int = 256) -> EncodedData:
    """Encode ``count`` pictures of dataset ``seed`` with ``folder``'s ONNX VAE encoder and their captions
    with its text encoder."""
    import ortdiffusion as od

    pipe = od.StableDiffusionImg2ImgPipeline.from_pretrained(folder)
    components = pipe.components
    size = components.default_sample_size * components.vae_scale_factor
    means, stds, embeddings, captions = [], [], [], []
    for start in range(0, count, chunk):
        images, batch_captions = shapes.batch(seed, start, min(chunk, count - start), size)
        pixels = images.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        parameters = components.vae_encoder.run(sample=pixels)[0].astype(np.float32)
        mean, logvar = np.split(parameters, 2, axis=1)
        means.append(mean)
        stds.append(np.exp(0.5 * np.clip(logvar, -30.0, 20.0)))
        embeddings.append(pipe.encode_prompt(batch_captions, [""] * len(batch_captions), 1, False))
        captions.extend(batch_captions)
    empty = pipe.encode_prompt([""], [""], 1, False)
    dataset = LatentDataset(torch.from_numpy(np.concatenate(means)), torch.from_numpy(np.concatenate(stds)), captions)
    return EncodedData(dataset, torch.from_numpy(np.concatenate(embeddings)), torch.from_numpy(empty),
                       components.scaling_factor)


def train_lcm_lora(options: LcmOptions, folder: Path) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Distil an LCM-LoRA for the exported pipeline ``folder``; returns the student UNet (with its peft
    adapter) and the training history."""
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    start = time.perf_counter()
    data = encode_with_export(folder, options.dataset_size, options.seed)
    teacher = unet_from_export(folder).requires_grad_(False)
    student = copy.deepcopy(teacher)
    student.add_adapter(LoraConfig(r=options.rank, lora_alpha=options.rank, init_lora_weights="gaussian",
                                   target_modules=TARGET_MODULES))
    params = [p for p in student.parameters() if p.requires_grad]
    log.info("encoded %d pictures in %.1f s; %d LoRA parameters", options.dataset_size, time.perf_counter() - start,
             sum(p.numel() for p in params))
    alphas_cumprod = training_scheduler().alphas_cumprod
    solver = DdimSolver(alphas_cumprod, options.ddim_steps)
    student.train()

    def loss_at(step: int) -> torch.Tensor:
        n = options.batch_size
        index = torch.randint(len(data.latents.captions), (n,), generator=generator)
        latents = data.latents.sample(index, data.scaling_factor, generator)
        text = data.embeddings[index]
        noise = torch.randn(latents.shape, generator=generator)
        step_index = torch.randint(options.ddim_steps, (n,), generator=generator)
        start_t = solver.timesteps[step_index]
        target_t = torch.clamp(start_t - solver.skip, min=0)
        w = (options.w_min + (options.w_max - options.w_min) * torch.rand(n, generator=generator)).view(-1, 1, 1, 1)
        abar_start = alphas_cumprod[start_t]
        noisy = abar_start.sqrt().view(-1, 1, 1, 1) * latents + (1 - abar_start).sqrt().view(-1, 1, 1, 1) * noise
        c_skip_start, c_out_start = boundary_scalings(start_t)
        student_x0 = predicted_x0(student(noisy, start_t, text).sample, noisy, abar_start)
        prediction = c_skip_start * noisy + c_out_start * student_x0  # f(x_{t_{n+k}}, t_{n+k})
        with torch.no_grad():
            both = teacher(torch.cat([noisy, noisy]), torch.cat([start_t, start_t]),
                           torch.cat([text, data.empty.expand_as(text)])).sample
            cond_eps, uncond_eps = both.chunk(2)
            cond_x0 = predicted_x0(cond_eps, noisy, abar_start)
            uncond_x0 = predicted_x0(uncond_eps, noisy, abar_start)
            x_prev = solver.step(cond_x0 + w * (cond_x0 - uncond_x0), cond_eps + w * (cond_eps - uncond_eps),
                                 step_index)
            c_skip, c_out = boundary_scalings(target_t)
            target_x0 = predicted_x0(student(x_prev, target_t, text).sample, x_prev, alphas_cumprod[target_t])
            target = c_skip * x_prev + c_out * target_x0  # f(x_{t_n}, t_n), no gradient
        c = options.huber_c
        return (torch.sqrt((prediction - target) ** 2 + c * c) - c).mean()

    loop = LoopOptions(options.steps, options.lr, options.warmup, 0.0, options.log_every, "lcm-lora")
    history = optimise(params, loop, loss_at)
    student.eval()
    return student, history

