"""ortdiffusion: Stable Diffusion 1.x on ONNX Runtime with a native C++ core.

Public API: the pipelines (:class:`StableDiffusionPipeline`, ``...Img2ImgPipeline``, ``...InpaintPipeline``,
``...ControlNetPipeline``, ``...ControlNetImg2ImgPipeline``) with diffusers' names and call signatures,
:class:`DDIMScheduler` (a drop-in for ``diffusers.DDIMScheduler``), :class:`Generator` (seeded noise equal
to torch's CPU generator), :func:`export` (diffusers folder -> ONNX; needs the ``[export]`` extra) and
:func:`default_model_path` / :func:`default_lora_path` (the embedded tiny model, also loaded by
``from_pretrained("default")``, ``"default_inpaint"`` or ``"default_canny"``).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ortdiffusion._native import Generator
    from ortdiffusion.errors import (
        ArgumentError,
        ConfigError,
        ExternalDataError,
        FormatError,
        OrtDiffusionError,
    )
    from ortdiffusion.exporter import ExportReport
    from ortdiffusion.models import default_lora_path, default_model_path
    from ortdiffusion.pipelines import (
        StableDiffusionControlNetImg2ImgPipeline,
        StableDiffusionControlNetPipeline,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionPipelineOutput,
    )
    from ortdiffusion.schedulers import (
        DDIMScheduler,
        DDIMSchedulerOutput,
        DDPMScheduler,
        DPMSolverMultistepScheduler,
        DPMSolverSinglestepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        HeunDiscreteScheduler,
        KDPM2AncestralDiscreteScheduler,
        KDPM2DiscreteScheduler,
        LCMScheduler,
        LMSDiscreteScheduler,
        PNDMScheduler,
        SchedulerOutput,
        TCDScheduler,
        UniPCMultistepScheduler,
    )

__version__ = "0.1.0"

# Public names -> the module that defines them. They are imported on first use (PEP 562), so that
# `import ortdiffusion.cli` stays light: the command line then does all heavy importing (numpy, ONNX
# Runtime, the native module) inside its own error and Ctrl-C handling.
_LAZY = {
    "Generator": "ortdiffusion._native",
    **dict.fromkeys(("ArgumentError", "ConfigError", "ExternalDataError", "FormatError", "OrtDiffusionError"),
                    "ortdiffusion.errors"),
    **dict.fromkeys(("default_lora_path", "default_model_path"), "ortdiffusion.models"),
    **dict.fromkeys(("StableDiffusionControlNetImg2ImgPipeline", "StableDiffusionControlNetPipeline",
                     "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline", "StableDiffusionPipeline",
                     "StableDiffusionPipelineOutput"), "ortdiffusion.pipelines"),
    **dict.fromkeys((
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
        "LMSDiscreteScheduler",
        "PNDMScheduler",
        "SchedulerOutput",
        "TCDScheduler",
        "UniPCMultistepScheduler",
    ), "ortdiffusion.schedulers"),
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use and keep it here."""
    if name == "SchedulerMixin" and "diffusers.schedulers.scheduling_utils" in sys.modules:
        # diffusers' pipeline loader looks for the base class in a component's library: a model_index.json
        # entry ["ortdiffusion", "EulerDiscreteScheduler"] loads through it (see schedulers/diffusers_interop.py)
        importlib.import_module("ortdiffusion.schedulers")
        return sys.modules["diffusers.schedulers.scheduling_utils"].SchedulerMixin
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ortdiffusion' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def export(
    model: str | Path, output: str | Path, controlnets: Sequence[str | Path] = (), overwrite: bool = False,
    lora_rank: int = 0, attention: str = "fused",
) -> ExportReport:
    """Export the diffusers folder ``model`` (with ``controlnets`` fused into the UNet) to ONNX in
    ``output`` (optimum's layout plus ``weights_map.json``); ``lora_rank`` adds LoRA slots (swap mode),
    ``attention`` is "fused" (ONNX Runtime's MultiHeadAttention) or "plain". Imports torch; needs the
    ``[export]`` extra."""
    from ortdiffusion.exporter import export_pipeline

    return export_pipeline(model, output, controlnets=controlnets, overwrite=overwrite, lora_rank=lora_rank,
                           attention=attention)


__all__ = [
    "ArgumentError",
    "ConfigError",
    "DDIMScheduler",
    "DDIMSchedulerOutput",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
    "ExternalDataError",
    "FormatError",
    "Generator",
    "HeunDiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "LCMScheduler",
    "LMSDiscreteScheduler",
    "OrtDiffusionError",
    "PNDMScheduler",
    "SchedulerOutput",
    "StableDiffusionControlNetImg2ImgPipeline",
    "StableDiffusionControlNetPipeline",
    "StableDiffusionImg2ImgPipeline",
    "StableDiffusionInpaintPipeline",
    "StableDiffusionPipeline",
    "StableDiffusionPipelineOutput",
    "TCDScheduler",
    "UniPCMultistepScheduler",
    "__version__",
    "default_lora_path",
    "default_model_path",
    "export",
]
