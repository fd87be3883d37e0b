"""Exponential moving average of model weights (the weights a diffusion model is sampled with)."""

from __future__ import annotations

import torch


class Ema:
    """Shadow copies of ``modules``' parameters, updated as ``shadow <- decay * shadow + (1 - decay) * p``
    with the warm-up ``decay_t = min(decay, (1 + t) / (10 + t))`` (diffusers' EMAModel with
    ``use_ema_warmup=False``)."""

    def __init__(self, modules: list[torch.nn.Module], decay: float = 0.999) -> None:
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameters into the average."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow, self.params):
            s.lerp_(p.detach(), 1.0 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to_models(self) -> None:
        """Overwrite the live parameters with the average (at the end of training)."""
        for s, p in zip(self.shadow, self.params):
            p.copy_(s)
