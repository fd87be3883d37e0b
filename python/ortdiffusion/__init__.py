"""ortdiffusion: Stable Diffusion 1.x on ONNX Runtime with a native C++ core.

Public API so far: :class:`DDIMScheduler` (a drop-in for ``diffusers.DDIMScheduler``) and
:class:`Generator` (seeded noise equal to torch's CPU generator).
"""

from ortdiffusion._native import Generator
from ortdiffusion.errors import ArgumentError, ConfigError, FormatError, OrtDiffusionError
from ortdiffusion.schedulers import DDIMScheduler, DDIMSchedulerOutput

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "ConfigError",
    "DDIMScheduler",
    "DDIMSchedulerOutput",
    "FormatError",
    "Generator",
    "OrtDiffusionError",
    "__version__",
]
