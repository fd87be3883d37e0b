"""Inpainting: diffusers' ``StableDiffusionInpaintPipeline.__call__`` on ONNX Runtime, for inpainting
UNets (9 input channels: latents, mask, masked-image latents) and for plain UNets (4 channels: the known
region is re-noised and pasted back after each step)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ortdiffusion.image import load_image, prepare_image, prepare_mask
from ortdiffusion.mask_crop import apply_overlay, get_crop_region
from ortdiffusion.pipelines.base import (
    StableDiffusionPipelineBase,
    embeddings_array,
    is_integer,
    require_input,
)
from ortdiffusion.pipelines.lora_support import applies_lora_scale
from ortdiffusion.pipelines.noise import GeneratorInput, randn, resolve_generator


def _sizes(images: Any, name: str) -> list[tuple[int, int]]:
    """(width, height) of each picture in ``images`` (one or a list)."""
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise ValueError(f"`{name}` is an empty list")
    return [load_image(item, name).size for item in items]


def check_batch_count(count: int, batch_size: int, name: str) -> None:
    """``count`` pictures must be 1 or divide the batch (prompts x num_images_per_prompt)."""
    if count > batch_size or batch_size % count:
        raise ValueError(
            f"got {count} `{name}` for a batch of {batch_size} (prompts x num_images_per_prompt); "
            "pass one, or a number that divides the batch"
        )


class StableDiffusionInpaintPipeline(StableDiffusionPipelineBase):
    """Stable Diffusion 1.x inpainting on ONNX Runtime, with diffusers' call signature."""

    task = "inpainting"
    needs_vae_encoder = True
    unet_channels = (9, 4)

    @applies_lora_scale
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        image: Any = None,
        mask_image: Any = None,
        height: int | None = None,
        width: int | None = None,
        strength: float = 1.0,
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
        padding_mask_crop: int | None = None,
        masked_image_latents: Any = None,
        cache_interval: int = 1,
    ) -> Any:
        """Repaint the white part of ``mask_image`` (same size as ``image``; binarized at 0.5) following
        ``prompt``. ``height``/``width`` default to the UNet's sample size x 8, as in diffusers.
        ``padding_mask_crop`` = p: repaint only the mask's bounding box grown by p pixels (and to the output's
        aspect ratio) at the full output size, then paste the result into the original picture under the mask
        (diffusers' semantics; AUTOMATIC1111's "inpaint only masked"; one picture, output_type "pil").
        ``masked_image_latents``: the masked picture's VAE latents (scaled), used instead of encoding it.
        ``cache_interval``: DeepCache, as for text-to-image."""
        # 0. Default height and width to the UNet's
        default = self.components.default_sample_size * self.vae_scale_factor
        height = default if height is None else height
        width = default if width is None else width
        # 1. Check inputs
        require_input(image, "image", "the picture to repaint")
        require_input(mask_image, "mask_image", "white where to repaint")
        strength = self.check_strength(strength)
        cache_interval = self.check_cache_interval(cache_interval)
        prompts, negatives = self.check_common_inputs(
            prompt, negative_prompt, height, width, num_inference_steps, num_images_per_prompt, guidance_scale,
            eta, output_type, callback_on_step_end_tensor_inputs,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
        )
        batch_size = len(prompts) * num_images_per_prompt
        image_sizes, mask_sizes = _sizes(image, "image"), _sizes(mask_image, "mask_image")
        check_batch_count(len(image_sizes), batch_size, "image")
        check_batch_count(len(mask_sizes), batch_size, "mask_image")
        if len(image_sizes) != len(mask_sizes) and 1 not in (len(image_sizes), len(mask_sizes)):
            raise ValueError(f"got {len(image_sizes)} `image` and {len(mask_sizes)} `mask_image`; pass as many of each, or one")
        for k, (mw, mh) in enumerate(mask_sizes):
            iw, ih = image_sizes[k % len(image_sizes)]
            if (mw, mh) != (iw, ih):
                raise ValueError(
                    f"`mask_image` is {mw}x{mh} but `image` is {iw}x{ih}; the mask must cover the image pixel for pixel"
                )
        crop = self._check_mask_crop(padding_mask_crop, image, mask_image, width, height, output_type)
        generator = resolve_generator(generator)
        do_cfg = self.do_classifier_free_guidance(guidance_scale)
        # 2. Encode the prompt
        prompt_embeds = self.encode_prompt(
            prompts, negatives, num_images_per_prompt, do_cfg, prompt_syntax,
            prompt_embeds, negative_prompt_embeds, clip_skip,
        )
        # 3. Timesteps, cut by strength
        scheduler, num_inference_steps = self.components.make_scheduler(num_inference_steps, timesteps, sigmas)
        timesteps = self.get_timesteps(scheduler, num_inference_steps, strength)
        is_strength_max = strength == 1.0
        # 4. Preprocess image and mask
        init_image = prepare_image(image, height, width, self.vae_scale_factor, crop)
        mask_condition = prepare_mask(mask_image, height, width, self.vae_scale_factor, crop)
        channels_unet = self.components.unet_in_channels
        # 5. Latents (diffusers' prepare_latents: image latents first when needed, then the noise)
        shape = (batch_size, self.components.latent_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        image_latents = None
        if channels_unet == 4 or (latents is None and not is_strength_max):
            image_latents = self.encode_image(init_image, generator)
            image_latents = np.tile(image_latents, (batch_size // image_latents.shape[0], 1, 1, 1))
        if latents is None:
            noise = randn(generator, shape)
            if is_strength_max:
                latents = noise * np.float32(scheduler.init_noise_sigma)
            else:
                latents = scheduler.add_noise(image_latents, noise, np.full(batch_size, timesteps[0]))
        else:
            noise = self.check_latents(latents, shape)
            latents = noise * np.float32(scheduler.init_noise_sigma)
        # 6. Mask and masked-image latents (diffusers' prepare_mask_latents)
        factor = self.vae_scale_factor
        mask = mask_condition[:, :, ::factor, ::factor]  # F.interpolate(mode="nearest") to the latent size
        if masked_image_latents is None:
            masked_image_latents = self.encode_image(init_image * (mask_condition < 0.5), generator)
        else:
            masked_image_latents = self._check_masked_image_latents(masked_image_latents, shape)
        mask = np.tile(mask, (batch_size // mask.shape[0], 1, 1, 1))
        masked_image_latents = np.tile(masked_image_latents, (batch_size // masked_image_latents.shape[0], 1, 1, 1))
        if do_cfg:
            mask = np.concatenate([mask, mask])
            masked_image_latents = np.concatenate([masked_image_latents, masked_image_latents])

        # 7. Denoising loop. A 9-channel UNet reads [latents, mask, masked-image latents] along channels; the
        # last five channels are the same every step, so they are written into the input buffer once.
        unet_input = None
        if channels_unet == 9:
            unet_input = np.empty((mask.shape[0], 9, *mask.shape[2:]), dtype=np.float32)
            unet_input[:, 4:5] = mask
            unet_input[:, 5:] = masked_image_latents

        def feed_hook(i: int, t: int, model_input: np.ndarray) -> dict:
            if unet_input is not None:
                unet_input[:, :4] = model_input  # np.concatenate([model_input, mask, masked_image_latents], 1)
                return {"sample": unet_input}
            return {}

        def post_step_hook(i: int, latents: np.ndarray) -> np.ndarray:
            if channels_unet != 4:
                return latents
            # keep the unmasked region: the image's latents noised to the next timestep
            init_mask = mask[:batch_size]
            proper = image_latents
            if i < len(timesteps) - 1:
                proper = scheduler.add_noise(image_latents, noise, np.array([timesteps[i + 1]]))
            return (1 - init_mask) * proper + init_mask * latents

        latents = self.denoise(
            latents, timesteps, scheduler, prompt_embeds, guidance_scale, eta, generator,
            feed_hook=feed_hook, post_step_hook=post_step_hook,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs, cache_interval=cache_interval,
        )
        # 8. Decode; with padding_mask_crop, paste the repainted crop into the original under the mask
        output = self.decode(latents, output_type, True)
        if crop is not None:
            original, mask_picture = load_image(image, "image"), load_image(mask_image, "mask_image")
            output.images = [apply_overlay(mask_picture, original, picture, crop) for picture in output.images]
        return output if return_dict else (output.images, None)

    @staticmethod
    def _check_mask_crop(padding_mask_crop: Any, image: Any, mask_image: Any, width: int, height: int,
                         output_type: str) -> tuple[int, int, int, int] | None:
        """The crop box for ``padding_mask_crop`` (None without it), after diffusers' checks: one picture and
        one mask, PIL output."""
        if padding_mask_crop is None:
            return None
        if not is_integer(padding_mask_crop) or padding_mask_crop < 0:
            raise ValueError(f"`padding_mask_crop` must be a number of pixels >= 0, got {padding_mask_crop!r}")
        for value, name in ((image, "image"), (mask_image, "mask_image")):
            if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 4):
                raise ValueError(f"The {name} should be one picture when inpainting mask crop (padding_mask_crop)")
        if output_type != "pil":
            raise ValueError(f"The output type should be PIL when inpainting mask crop, but is {output_type}.")
        return get_crop_region(load_image(mask_image, "mask_image"), width, height, pad=int(padding_mask_crop))

    def _check_masked_image_latents(self, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        """``masked_image_latents`` (numpy or torch) as float32 [n, C, h, w] with the latents' C, h, w and n
        dividing the batch."""
        array = embeddings_array(value, "masked_image_latents", ndim=4)
        batch = shape[0]
        if array.shape[1:] != tuple(shape[1:]) or batch % array.shape[0]:
            raise ValueError(
                f"`masked_image_latents` has shape {tuple(array.shape)}; expected [n, {shape[1]}, {shape[2]}, {shape[3]}] "
                f"(the masked picture's scaled VAE latents at this size) with n dividing the batch of {batch}"
            )
        return array
