"""Schedulers with diffusers' API over the native core."""

from ortdiffusion.schedulers.scheduling_ddim import DDIMScheduler, DDIMSchedulerOutput

__all__ = ["DDIMScheduler", "DDIMSchedulerOutput"]
