"""Schedulers with diffusers' API over the native core."""

from ortdiffusion.schedulers.outputs import SchedulerOutput
from ortdiffusion.schedulers.registry import SCHEDULER_CLASSES, scheduler_class
from ortdiffusion.schedulers.scheduling_ddim import DDIMScheduler, DDIMSchedulerOutput
from ortdiffusion.schedulers.scheduling_pndm import PNDMScheduler

__all__ = [
    "SCHEDULER_CLASSES",
    "DDIMScheduler",
    "DDIMSchedulerOutput",
    "PNDMScheduler",
    "SchedulerOutput",
    "scheduler_class",
]
