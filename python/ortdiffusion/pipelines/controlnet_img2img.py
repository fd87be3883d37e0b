"""Image-to-image with ControlNets: diffusers' ``StableDiffusionControlNetImg2ImgPipeline.__call__`` on a
UNet export with ControlNets fused into the graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ortdiffusion.deep_cache import refuse_deep_cache
from ortdiffusion.image import prepare_image
from ortdiffusion.pipelines.control import (
    batch_control_images,
    control_images_per_net,
    controlnet_keep,
    preprocess_control_images,
)
from ortdiffusion.pipelines.controlnet import StableDiffusionControlNetPipeline
from ortdiffusion.pipelines.lora_support import applies_lora_scale
from ortdiffusion.pipelines.noise import GeneratorInput, resolve_generator


class StableDiffusionControlNetImg2ImgPipeline(StableDiffusionControlNetPipeline):
    """Stable Diffusion 1.x + ControlNet(s) image-to-image on ONNX Runtime, with diffusers' call signature."""

    task = "ControlNet image-to-image"
    needs_vae_encoder = True

    @applies_lora_scale
    def __call__(  # type: ignore[override]
        self,
        prompt: str | list[str] | None = None,
        image: Any = None,
        control_image: Any = None,
        height: int | None = None,
        width: int | None = None,
        strength: float = 0.8,
        num_inference_steps: int = 50,
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
        controlnet_conditioning_scale: float | list[float] = 0.8,
        control_guidance_start: float | list[float] = 0.0,
        control_guidance_end: float | list[float] = 1.0,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        prompt_syntax: str = "plain",
        clip_skip: int | None = None,
        cross_attention_kwargs: dict | None = None,
        guess_mode: bool = False,
        cache_interval: int = 1,
    ) -> Any:
        """Re-draw ``image`` toward ``prompt`` guided by ``control_image``; ``strength`` in [0, 1].
        ``height``/``width`` default to each image's own size rounded down to a multiple of 8. ``guess_mode`` as
        in the text-to-image ControlNet pipeline."""
        # 1. Check inputs
        if image is None:
            raise ValueError("`image` is required for ControlNet image-to-image")
        strength = self.check_strength(strength)
        scales, starts, ends = self.check_control_args(controlnet_conditioning_scale, control_guidance_start, control_guidance_end)
        refuse_deep_cache(cache_interval)
        self.check_size(height, width)
        per_net = control_images_per_net(control_image, self.components.num_controlnets, allow_nested=False)
        init_image = prepare_image(image, height, width, self.vae_scale_factor)
        prompts, negatives = self.check_common_inputs(
            prompt, negative_prompt, init_image.shape[-2], init_image.shape[-1], num_inference_steps,
            num_images_per_prompt, guidance_scale, eta, output_type, callback_on_step_end_tensor_inputs,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
        )
        generator = resolve_generator(generator)
        batch_size = len(prompts) * num_images_per_prompt
        do_cfg = self.do_classifier_free_guidance(guidance_scale)
        # 2. Encode the prompt
        prompt_embeds = self.encode_prompt(
            prompts, negatives, num_images_per_prompt, do_cfg, prompt_syntax,
            prompt_embeds, negative_prompt_embeds, clip_skip,
        )
        # 3. Control images, which must match the init image's size
        control = batch_control_images(
            preprocess_control_images(per_net, height, width, self.vae_scale_factor), batch_size, num_images_per_prompt, do_cfg
        )
        if control.shape[-2:] != init_image.shape[-2:]:
            raise ValueError(
                f"`control_image` is {control.shape[-1]}x{control.shape[-2]} but `image` is "
                f"{init_image.shape[-1]}x{init_image.shape[-2]} after preprocessing; pass height and width or same-size images"
            )
        # 4. Timesteps, cut by strength
        scheduler, num_inference_steps = self.components.make_scheduler(num_inference_steps)
        timesteps = self.get_timesteps(scheduler, num_inference_steps, strength)
        # 5. Latents: the image's latents noised to the first timestep (or the caller's, used as given)
        if latents is None:
            latents = self.prepare_image_latents(init_image, timesteps[0], batch_size, scheduler, generator)
        else:
            shape = (batch_size, self.components.latent_channels, *(s // self.vae_scale_factor for s in init_image.shape[-2:]))
            latents = self.check_latents(latents, shape)
        # 6. Denoising loop
        keep = controlnet_keep(len(timesteps), starts, ends)
        latents = self.denoise(
            latents, timesteps, scheduler, prompt_embeds, guidance_scale, eta, generator,
            feed_hook=self.control_feed_hook(control, scales, keep, guess_mode, do_cfg),
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
        )
        # 7. Decode
        return self.decode(latents, output_type, return_dict)
