"""ControlNet inputs shared by the ControlNet pipelines: conditioning images stacked per ControlNet, the
per-ControlNet scales, and which steps each ControlNet is active in (diffusers' ``controlnet_keep``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ortdiffusion.image import prepare_control_image


def per_controlnet(value: Any, count: int, name: str) -> list[Any]:
    """``value`` given once (for all ControlNets) or as a list/array with one entry per ControlNet."""
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim else value.item()
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"`{name}` has {len(value)} entries but the model fuses {count} ControlNets")
        return list(value)
    return [value] * count


def control_images_per_net(control_image: Any, count: int, allow_nested: bool = True) -> list[Any]:
    """Split ``control_image`` into one image (or list of images) per ControlNet, as diffusers reads it:
    with one ControlNet any image or list of images; with several, a list of one image per ControlNet, or
    (``allow_nested``) a list with one such list per prompt, which is transposed."""
    if control_image is None:
        raise ValueError("this model has ControlNets: pass `control_image` (e.g. ortdiffusion.image.canny(photo))")
    if count == 1:
        return [control_image]
    if not isinstance(control_image, (list, tuple)):
        raise TypeError(f"the model fuses {count} ControlNets: pass `control_image` as a list of {count} images")
    if control_image and isinstance(control_image[0], (list, tuple)):
        if not allow_nested:
            raise ValueError(
                "nested `control_image` lists (one list per prompt) are not accepted here, as in diffusers; "
                f"pass one image per ControlNet ({count})"
            )
        if any(not isinstance(per_prompt, (list, tuple)) or len(per_prompt) != count for per_prompt in control_image):
            raise ValueError(f"each prompt's entry in `control_image` must list {count} images, one per ControlNet")
        return [list(per_net) for per_net in zip(*control_image)]
    if len(control_image) != count:
        raise ValueError(f"the model fuses {count} ControlNets: pass `control_image` as a list of {count} images")
    return list(control_image)


def preprocess_control_images(
    control_images: Sequence[Any], height: int | None, width: int | None, vae_scale_factor: int
) -> list[np.ndarray]:
    """Each ControlNet's conditioning images as [b, 3, H, W] in [0, 1] (diffusers' control_image_processor),
    all of one size: ``height`` x ``width`` when given, else each image's own rounded down to a multiple of 8."""
    prepared = [prepare_control_image(images, height, width, vae_scale_factor) for images in control_images]
    sizes = sorted({p.shape[-2:] for p in prepared})
    if len(sizes) != 1:
        raise ValueError(f"the control images have different sizes {sizes}; pass height and width or same-size images")
    return prepared


def batch_control_images(
    prepared: Sequence[np.ndarray], batch_size: int, num_images_per_prompt: int, do_classifier_free_guidance: bool
) -> np.ndarray:
    """[N, (2 x) batch, 3, H, W]: each ControlNet's images repeated to the batch (diffusers' ``prepare_image``:
    one image is repeated ``batch_size`` times, several are each repeated ``num_images_per_prompt`` times),
    doubled for guidance."""
    batched = []
    for image in prepared:
        repeat_by = batch_size if image.shape[0] == 1 else num_images_per_prompt
        image = np.repeat(image, repeat_by, axis=0)
        if image.shape[0] != batch_size:
            raise ValueError(
                f"got {image.shape[0] // repeat_by} control images for {batch_size // num_images_per_prompt} prompts; "
                "pass one, or one per prompt"
            )
        batched.append(np.concatenate([image, image]) if do_classifier_free_guidance else image)
    return np.stack(batched)


def controlnet_keep(num_steps: int, starts: Sequence[float], ends: Sequence[float]) -> np.ndarray:
    """[steps, N] of 1.0 where ControlNet k is active at step i, else 0.0:
    1 - (i / steps < start_k or (i + 1) / steps > end_k), as diffusers computes it."""
    for s, e in zip(starts, ends):
        if not 0.0 <= s < e <= 1.0:
            raise ValueError(f"need 0 <= control_guidance_start < control_guidance_end <= 1, got {s} and {e}")
    return np.array(
        [[1.0 - float(i / num_steps < s or (i + 1) / num_steps > e) for s, e in zip(starts, ends)] for i in range(num_steps)],
        dtype=np.float32,
    )


def residual_scales(step_scales: np.ndarray, batch: int, residuals: int, guess_mode: bool, do_classifier_free_guidance: bool) -> np.ndarray:
    """The ``conditioning_scale`` feed [N, batch, residuals] of one step: ControlNet k's scale of the step for
    every item and residual; in guess mode (diffusers' ``ControlNetModel.forward``) each residual r scaled by
    ``logspace(-1, 0, residuals)[r]`` (shallow residuals weaker), and with guidance the unconditional half of
    the batch 0 (diffusers runs the ControlNets on the conditional half only and adds zeros to the other)."""
    scales = np.broadcast_to(np.asarray(step_scales, dtype=np.float32)[:, None, None], (len(step_scales), batch, residuals))
    if not guess_mode:
        return np.ascontiguousarray(scales)
    scales = scales * np.logspace(-1, 0, residuals).astype(np.float32)  # torch.logspace's float32 values
    if do_classifier_free_guidance:
        scales[:, : batch // 2] = 0.0
    return np.ascontiguousarray(scales, dtype=np.float32)
