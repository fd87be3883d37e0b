"""Text-to-image: diffusers' ``StableDiffusionPipeline.__call__`` on ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ortdiffusion.pipelines.base import StableDiffusionPipelineBase
from ortdiffusion.pipelines.lora_support import applies_lora_scale
from ortdiffusion.pipelines.noise import GeneratorInput, randn, resolve_generator


class StableDiffusionPipeline(StableDiffusionPipelineBase):
    """Stable Diffusion 1.x text-to-image on ONNX Runtime, with diffusers' call signature."""

    task = "text-to-image"

    @applies_lora_scale
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        timesteps: Sequence[int] | None = None,
        sigmas: Sequence[float] | None = None,
        guidance_scale: float = 7.5,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: GeneratorInput = None,
        latents: np.ndarray | None = None,
        prompt_embeds: Any = None,
        negative_prompt_embeds: Any = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        prompt_syntax: str = "plain",
        clip_skip: int | None = None,
        cross_attention_kwargs: dict | None = None,
        guidance_rescale: float = 0.0,
        cache_interval: int = 1,
    ) -> Any:
        """Generate images for ``prompt``. ``generator``: an int seed, an ``ortdiffusion.Generator`` or a
        ``torch.Generator`` (the same seed gives diffusers' image). ``cache_interval`` N > 1: DeepCache, the full
        UNet every N-th step and its shallow branch in between (an export made with ``--deep-cache``).
        Returns ``StableDiffusionPipelineOutput`` (``.images``), or ``(images, None)`` with ``return_dict=False``."""
        # 0. Default height and width to the UNet's
        default = self.components.default_sample_size * self.vae_scale_factor
        height = default if height is None else height
        width = default if width is None else width
        # 1. Check inputs
        prompts, negatives = self.check_common_inputs(
            prompt, negative_prompt, height, width, num_inference_steps, num_images_per_prompt, guidance_scale,
            eta, output_type, callback_on_step_end_tensor_inputs,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
        )
        guidance_rescale = self.check_guidance_rescale(guidance_rescale)
        cache_interval = self.check_cache_interval(cache_interval)
        generator = resolve_generator(generator)
        batch_size = len(prompts) * num_images_per_prompt
        # 2. Encode the prompt (negatives first when guiding)
        prompt_embeds = self.encode_prompt(
            prompts, negatives, num_images_per_prompt, self.do_classifier_free_guidance(guidance_scale), prompt_syntax,
            prompt_embeds, negative_prompt_embeds, clip_skip,
        )
        # 3. Timesteps
        scheduler, num_inference_steps = self.components.make_scheduler(num_inference_steps, timesteps, sigmas)
        timesteps = self.get_timesteps(scheduler, num_inference_steps)
        # 4. Latents: randn * init_noise_sigma (diffusers' prepare_latents)
        shape = (batch_size, self.components.latent_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        noise = randn(generator, shape) if latents is None else self.check_latents(latents, shape)
        latents = noise * np.float32(scheduler.init_noise_sigma)
        # 5. Denoising loop
        latents = self.denoise(
            latents, timesteps, scheduler, prompt_embeds, guidance_scale, eta, generator,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
            guidance_rescale=guidance_rescale, cache_interval=cache_interval,
        )
        # 6. Decode
        return self.decode(latents, output_type, return_dict)
