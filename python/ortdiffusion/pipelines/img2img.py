"""Image-to-image: diffusers' ``StableDiffusionImg2ImgPipeline.__call__`` on ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ortdiffusion.image import prepare_image
from ortdiffusion.pipelines.base import StableDiffusionPipelineBase, require_input
from ortdiffusion.pipelines.lora_support import applies_lora_scale
from ortdiffusion.pipelines.noise import GeneratorInput, resolve_generator


class StableDiffusionImg2ImgPipeline(StableDiffusionPipelineBase):
    """Stable Diffusion 1.x image-to-image on ONNX Runtime, with diffusers' call signature."""

    task = "image-to-image"
    needs_vae_encoder = True

    @applies_lora_scale
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        image: Any = None,
        strength: float = 0.8,
        num_inference_steps: int = 50,
        timesteps: Sequence[int] | None = None,
        sigmas: Sequence[float] | None = None,
        guidance_scale: float = 7.5,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: GeneratorInput = None,
        prompt_embeds: Any = None,
        negative_prompt_embeds: Any = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        prompt_syntax: str = "plain",
        clip_skip: int | None = None,
        cross_attention_kwargs: dict | None = None,
        height: int | None = None,
        width: int | None = None,
        cache_interval: int = 1,
    ) -> Any:
        """Re-draw ``image`` (path, PIL image, uint8 array, or a list) toward ``prompt``; ``strength`` in [0, 1]
        is how much of the schedule is run (1 ignores the image's content). ``height``/``width`` default to the
        image's size rounded down to a multiple of 8, as diffusers does. ``cache_interval``: DeepCache, as for
        text-to-image."""
        # 1. Check inputs and preprocess the image
        require_input(image, "image", "the picture to re-draw")
        strength = self.check_strength(strength)
        cache_interval = self.check_cache_interval(cache_interval)
        self.check_size(height, width)
        init_image = prepare_image(image, height, width, self.vae_scale_factor)
        height, width = init_image.shape[-2:]
        prompts, negatives = self.check_common_inputs(
            prompt, negative_prompt, height, width, num_inference_steps, num_images_per_prompt, guidance_scale,
            eta, output_type, callback_on_step_end_tensor_inputs,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
        )
        generator = resolve_generator(generator)
        batch_size = len(prompts) * num_images_per_prompt
        # 2. Encode the prompt
        prompt_embeds = self.encode_prompt(
            prompts, negatives, num_images_per_prompt, self.do_classifier_free_guidance(guidance_scale), prompt_syntax,
            prompt_embeds, negative_prompt_embeds, clip_skip,
        )
        # 3. Timesteps, cut by strength
        scheduler, num_inference_steps = self.components.make_scheduler(num_inference_steps, timesteps, sigmas)
        timesteps = self.get_timesteps(scheduler, num_inference_steps, strength)
        # 4. Latents: the image's latents noised to the first timestep
        latents = self.prepare_image_latents(init_image, timesteps[0], batch_size, scheduler, generator)
        # 5. Denoising loop
        latents = self.denoise(
            latents, timesteps, scheduler, prompt_embeds, guidance_scale, eta, generator,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs, cache_interval=cache_interval,
        )
        # 6. Decode
        return self.decode(latents, output_type, return_dict)
