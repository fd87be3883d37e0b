"""Stable Diffusion 1.x pipelines on ONNX Runtime with diffusers' names and call signatures."""

from ortdiffusion.pipelines.controlnet import StableDiffusionControlNetPipeline
from ortdiffusion.pipelines.controlnet_img2img import StableDiffusionControlNetImg2ImgPipeline
from ortdiffusion.pipelines.img2img import StableDiffusionImg2ImgPipeline
from ortdiffusion.pipelines.inpaint import StableDiffusionInpaintPipeline
from ortdiffusion.pipelines.output import StableDiffusionPipelineOutput
from ortdiffusion.pipelines.text2img import StableDiffusionPipeline

__all__ = [
    "StableDiffusionControlNetImg2ImgPipeline",
    "StableDiffusionControlNetPipeline",
    "StableDiffusionImg2ImgPipeline",
    "StableDiffusionInpaintPipeline",
    "StableDiffusionPipeline",
    "StableDiffusionPipelineOutput",
]
