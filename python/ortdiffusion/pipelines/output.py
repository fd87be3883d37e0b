"""What the pipelines return (diffusers' ``StableDiffusionPipelineOutput``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StableDiffusionPipelineOutput:
    """``images``: a list of PIL images, a float32 [B, H, W, 3] array in [0, 1] (``output_type="np"``) or
    latents (``"latent"``). ``nsfw_content_detected`` is always None: there is no safety checker."""

    images: Any
    nsfw_content_detected: list[bool] | None = None

    def __getitem__(self, index: int) -> Any:
        """``out[0]`` is the images, as with diffusers' outputs."""
        return (self.images, self.nsfw_content_detected)[index]
