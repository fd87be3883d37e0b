"""Text-to-image with ControlNets: diffusers' ``StableDiffusionControlNetPipeline.__call__`` on a UNet
export with N ControlNets fused into the graph (inputs ``controlnet_cond`` [N, B, 3, H, W] and
``conditioning_scale`` [N])."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ortdiffusion.deep_cache import refuse_deep_cache
from ortdiffusion.pipelines.base import StableDiffusionPipelineBase, require_input
from ortdiffusion.pipelines.control import (
    batch_control_images,
    control_images_per_net,
    controlnet_keep,
    per_controlnet,
    preprocess_control_images,
    residual_scales,
)
from ortdiffusion.pipelines.lora_support import applies_lora_scale
from ortdiffusion.pipelines.noise import GeneratorInput, randn, resolve_generator


class StableDiffusionControlNetPipeline(StableDiffusionPipelineBase):
    """Stable Diffusion 1.x + ControlNet(s) text-to-image on ONNX Runtime, with diffusers' call signature."""

    task = "ControlNet text-to-image"
    uses_controlnet = True

    def control_feed_hook(
        self, control: np.ndarray, scales: list[float], keep: np.ndarray, guess_mode: bool = False,
        do_classifier_free_guidance: bool = False,
    ) -> Callable[[int, int, np.ndarray], dict]:
        """The UNet feeds a ControlNet step adds: the conditioning images and scale_k x keep[i, k], per residual
        and batch item where the export takes that (:func:`residual_scales`; guess mode needs it)."""
        per_step = np.asarray(scales, dtype=np.float32) * np.asarray(keep, dtype=np.float32)  # [steps, controlnets]
        shape = self.components.unet.inputs["conditioning_scale"].shape
        if len(shape) == 1:  # exports before per-residual scales: one scale per ControlNet
            if guess_mode:
                raise ValueError(
                    f"{self.components.unet.path} takes one scale per ControlNet; guess_mode needs a scale per residual: "
                    "export the model again with `ortdiffusion export`"
                )
            return lambda i, t, model_input: {"controlnet_cond": control, "conditioning_scale": per_step[i]}
        residuals = shape[2]

        def hook(i: int, t: int, model_input: np.ndarray) -> dict:
            feed = residual_scales(per_step[i], model_input.shape[0], residuals, guess_mode, do_classifier_free_guidance)
            return {"controlnet_cond": control, "conditioning_scale": feed}

        return hook

    def check_control_args(
        self, controlnet_conditioning_scale: Any, control_guidance_start: Any, control_guidance_end: Any
    ) -> tuple[list[float], list[float], list[float]]:
        """Per-ControlNet scales, starts and ends, checked."""
        count = self.components.num_controlnets
        scales = [float(s) for s in per_controlnet(controlnet_conditioning_scale, count, "controlnet_conditioning_scale")]
        starts = [float(s) for s in per_controlnet(control_guidance_start, count, "control_guidance_start")]
        ends = [float(e) for e in per_controlnet(control_guidance_end, count, "control_guidance_end")]
        return scales, starts, ends

    @applies_lora_scale
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        image: Any = None,
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
        controlnet_conditioning_scale: float | list[float] = 1.0,
        control_guidance_start: float | list[float] = 0.0,
        control_guidance_end: float | list[float] = 1.0,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        prompt_syntax: str = "plain",
        clip_skip: int | None = None,
        cross_attention_kwargs: dict | None = None,
        control_image: Any = None,
        guess_mode: bool = False,
        cache_interval: int = 1,
    ) -> Any:
        """Generate images for ``prompt`` guided by the control ``image`` (one image, or one per ControlNet; as
        diffusers names it, ``control_image`` is the same argument under ortdiffusion's earlier name).
        The output size is the control image's (rounded down to a multiple of 8) unless ``height``/``width``
        are given. ``guess_mode``: diffusers' (the ControlNets steer the conditional half only, their shallow
        residuals weaker), for use with an empty prompt or low guidance."""
        # 1. Check inputs; the control images set height and width
        scales, starts, ends = self.check_control_args(controlnet_conditioning_scale, control_guidance_start, control_guidance_end)
        refuse_deep_cache(cache_interval)
        self.check_size(height, width)
        if control_image is not None:
            if image is not None:
                raise ValueError("`image` and `control_image` are the same argument (the control picture); pass one")
            image = control_image
        require_input(image, "image", "the control picture: edges, depth ... one per ControlNet")
        per_net = control_images_per_net(image, self.components.num_controlnets)
        prepared = preprocess_control_images(per_net, height, width, self.vae_scale_factor)
        height, width = prepared[0].shape[-2:]
        prompts, negatives = self.check_common_inputs(
            prompt, negative_prompt, height, width, num_inference_steps, num_images_per_prompt, guidance_scale,
            eta, output_type, callback_on_step_end_tensor_inputs,
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
        # 3. Control images batched per ControlNet
        control = batch_control_images(prepared, batch_size, num_images_per_prompt, do_cfg)
        # 4. Timesteps
        scheduler, num_inference_steps = self.components.make_scheduler(num_inference_steps, timesteps, sigmas)
        timesteps = self.get_timesteps(scheduler, num_inference_steps)
        # 5. Latents
        shape = (batch_size, self.components.latent_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        noise = randn(generator, shape) if latents is None else self.check_latents(latents, shape)
        latents = noise * np.float32(scheduler.init_noise_sigma)
        # 6. Denoising loop with the ControlNets active per control_guidance_start/end
        keep = controlnet_keep(len(timesteps), starts, ends)
        latents = self.denoise(
            latents, timesteps, scheduler, prompt_embeds, guidance_scale, eta, generator,
            feed_hook=self.control_feed_hook(control, scales, keep, guess_mode, do_cfg),
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
        )
        # 7. Decode
        return self.decode(latents, output_type, return_dict)
