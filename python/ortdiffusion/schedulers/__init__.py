"""Schedulers with diffusers' API over the native core."""

from ortdiffusion.schedulers.outputs import SchedulerOutput
from ortdiffusion.schedulers.registry import SCHEDULER_CLASSES, scheduler_class
from ortdiffusion.schedulers.scheduling_ddim import DDIMScheduler, DDIMSchedulerOutput
from ortdiffusion.schedulers.scheduling_ddpm import DDPMScheduler
from ortdiffusion.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from ortdiffusion.schedulers.scheduling_dpmsolver_singlestep import DPMSolverSinglestepScheduler
from ortdiffusion.schedulers.scheduling_euler_ancestral import EulerAncestralDiscreteScheduler
from ortdiffusion.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
from ortdiffusion.schedulers.scheduling_heun_discrete import HeunDiscreteScheduler
from ortdiffusion.schedulers.scheduling_k_dpm_2_ancestral_discrete import KDPM2AncestralDiscreteScheduler
from ortdiffusion.schedulers.scheduling_k_dpm_2_discrete import KDPM2DiscreteScheduler
from ortdiffusion.schedulers.scheduling_lcm import LCMScheduler, LCMSchedulerOutput
from ortdiffusion.schedulers.scheduling_lms_discrete import LMSDiscreteScheduler
from ortdiffusion.schedulers.scheduling_pndm import PNDMScheduler
from ortdiffusion.schedulers.scheduling_tcd import TCDScheduler
from ortdiffusion.schedulers.scheduling_unipc_multistep import UniPCMultistepScheduler
from ortdiffusion.schedulers.sigma_scheduler import SigmaSchedulerOutput

__all__ = [
    "SCHEDULER_CLASSES",
    "DDIMScheduler",
    "DDIMSchedulerOutput",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
    "HeunDiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "LCMScheduler",
    "LCMSchedulerOutput",
    "LMSDiscreteScheduler",
    "PNDMScheduler",
    "SchedulerOutput",
    "SigmaSchedulerOutput",
    "TCDScheduler",
    "UniPCMultistepScheduler",
    "scheduler_class",
]
