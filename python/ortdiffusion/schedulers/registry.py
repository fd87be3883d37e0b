"""The scheduler classes ortdiffusion implements, by diffusers class name: what a folder's
``scheduler_config.json`` ``_class_name`` resolves to."""

from __future__ import annotations

from types import MappingProxyType

from ortdiffusion.schedulers.scheduling_ddim import DDIMScheduler
from ortdiffusion.schedulers.scheduling_ddpm import DDPMScheduler
from ortdiffusion.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from ortdiffusion.schedulers.scheduling_dpmsolver_singlestep import DPMSolverSinglestepScheduler
from ortdiffusion.schedulers.scheduling_euler_ancestral import EulerAncestralDiscreteScheduler
from ortdiffusion.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
from ortdiffusion.schedulers.scheduling_heun_discrete import HeunDiscreteScheduler
from ortdiffusion.schedulers.scheduling_k_dpm_2_ancestral_discrete import KDPM2AncestralDiscreteScheduler
from ortdiffusion.schedulers.scheduling_k_dpm_2_discrete import KDPM2DiscreteScheduler
from ortdiffusion.schedulers.scheduling_lcm import LCMScheduler
from ortdiffusion.schedulers.scheduling_lms_discrete import LMSDiscreteScheduler
from ortdiffusion.schedulers.scheduling_pndm import PNDMScheduler
from ortdiffusion.schedulers.scheduling_tcd import TCDScheduler
from ortdiffusion.schedulers.scheduling_unipc_multistep import UniPCMultistepScheduler

SCHEDULER_CLASSES = MappingProxyType({
    cls.__name__: cls
    for cls in (DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
                DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, UniPCMultistepScheduler, LCMScheduler,
                HeunDiscreteScheduler, DDPMScheduler, KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler,
                LMSDiscreteScheduler, TCDScheduler)
})


def scheduler_class(name: str) -> type:
    """The ortdiffusion scheduler class named ``name`` (a diffusers class name such as "PNDMScheduler");
    ValueError naming the implemented ones for any other name."""
    try:
        return SCHEDULER_CLASSES[name]
    except KeyError:
        raise ValueError(
            f"scheduler {name!r} is not implemented by ortdiffusion; available: {', '.join(SCHEDULER_CLASSES)}"
        ) from None
