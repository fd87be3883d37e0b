"""AUTOMATIC1111's sampler names ("Euler a", "DPM++ 2M Karras", ...) and the diffusers scheduler class and
config each corresponds to (the table of diffusers' scheduler documentation). ``--scheduler`` and the
server take either kind of name; PNG metadata writes AUTOMATIC1111's ``Sampler:`` as it does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ortdiffusion.schedulers.registry import SCHEDULER_CLASSES

# The sigma schedules AUTOMATIC1111 appends to a sampler name, and the diffusers config keys they set.
_SIGMA_SUFFIXES = {"Karras": {"use_karras_sigmas": True}, "Exponential": {"use_exponential_sigmas": True}}


@dataclass(frozen=True)
class SamplerName:
    """One AUTOMATIC1111 sampler name and its diffusers equivalent (class name and config overrides)."""

    name: str
    class_name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """Whether ortdiffusion implements the class."""
        return self.class_name in SCHEDULER_CLASSES


def _family(name: str, class_name: str, suffixes: tuple[str, ...] = (), **overrides: Any) -> list[SamplerName]:
    base = [SamplerName(name, class_name, overrides)]
    return base + [SamplerName(f"{name} {s}", class_name, {**overrides, **_SIGMA_SUFFIXES[s]}) for s in suffixes]


SAMPLER_NAMES: tuple[SamplerName, ...] = tuple(
    _family("DPM++ 2M", "DPMSolverMultistepScheduler", ("Karras", "Exponential"), algorithm_type="dpmsolver++",
            solver_order=2)
    + _family("DPM++ 2M SDE", "DPMSolverMultistepScheduler", ("Karras", "Exponential"),
              algorithm_type="sde-dpmsolver++", solver_order=2)
    + _family("DPM++ SDE", "DPMSolverSinglestepScheduler", ("Karras",))
    + _family("DPM2", "KDPM2DiscreteScheduler", ("Karras",))
    + _family("DPM2 a", "KDPM2AncestralDiscreteScheduler", ("Karras",))
    + _family("Euler", "EulerDiscreteScheduler", ("Karras", "Exponential"))
    + _family("Euler a", "EulerAncestralDiscreteScheduler")
    + _family("Heun", "HeunDiscreteScheduler", ("Karras",))
    + _family("LMS", "LMSDiscreteScheduler", ("Karras",))
    + _family("DDIM", "DDIMScheduler")
    + _family("DDIM Trailing", "DDIMScheduler", timestep_spacing="trailing")  # Hyper-SD's few-step LoRAs
    + _family("DDPM", "DDPMScheduler")
    + _family("PLMS", "PNDMScheduler", skip_prk_steps=True)
    + _family("UniPC", "UniPCMultistepScheduler")
    + _family("LCM", "LCMScheduler")
    + _family("TCD", "TCDScheduler")
)


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def find_sampler_name(name: str) -> SamplerName | None:
    """The AUTOMATIC1111 name ``name`` (case and spacing ignored), or None."""
    wanted = _key(name)
    return next((s for s in SAMPLER_NAMES if _key(s.name) == wanted), None)


def valid_scheduler_names() -> list[str]:
    """Every name ``scheduler_from_name`` takes: the implemented classes, then the AUTOMATIC1111 names
    whose class is implemented."""
    return [*SCHEDULER_CLASSES, *(s.name for s in SAMPLER_NAMES if s.available)]


def scheduler_from_name(name: str, config: Mapping[str, Any]) -> Any:
    """The scheduler ``name`` names (a diffusers class name such as "EulerDiscreteScheduler", or an
    AUTOMATIC1111 name such as "Euler a" or "DPM++ 2M Karras") built from ``config`` (the model's
    scheduler config: its noise schedule carries over) with the name's overrides. ValueError listing the
    valid names for an unknown name or one whose class ortdiffusion does not implement yet."""
    by_class = {n.lower(): cls for n, cls in SCHEDULER_CLASSES.items()}
    if name.lower() in by_class:
        return by_class[name.lower()].from_config(config)
    sampler = find_sampler_name(name)
    if sampler is not None and sampler.available:
        return SCHEDULER_CLASSES[sampler.class_name].from_config(config, **sampler.overrides)
    if sampler is not None:
        reason = f"{sampler.name!r} ({sampler.class_name}) is not implemented by ortdiffusion yet"
    else:
        reason = f"unknown scheduler {name!r}"
    raise ValueError(f"{reason}; valid names: {', '.join(valid_scheduler_names())}")


def a1111_sampler_name(scheduler: Any) -> str:
    """AUTOMATIC1111's name for ``scheduler`` (as its ``Sampler:`` infotext writes it, e.g. "Euler a",
    "DPM++ 2M Karras"): the entry of the table whose class and overrides match the scheduler's config
    best; the class name when no entry has its class."""
    class_name = type(scheduler).__name__
    config = scheduler.config
    matches = [s for s in SAMPLER_NAMES if s.class_name == class_name
               and all(config.get(k) == v for k, v in s.overrides.items())]
    if not matches:
        return class_name
    return max(matches, key=lambda s: len(s.overrides)).name
