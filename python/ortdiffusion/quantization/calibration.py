"""Calibration data for static int8 quantization: the inputs the UNet and the VAE decoder really see,
recorded while the float32 pipeline denoises a few prompts (every step's batched latents, timestep and text
embeddings for the UNet; each picture's final latents for the decoder), so the activation ranges come from
the denoising trajectory rather than random tensors.

A text-to-image UNet is driven by the text-to-image pipeline, a 9-channel inpainting UNet by the
inpainting pipeline on a generated picture with a centred mask. ControlNet exports are refused: their
control images depend on the ControlNet's kind (edges, depth, pose...), which the folder does not say."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

DEFAULT_PROMPTS = (
    "a photograph of a cat sitting on a sofa",
    "a red circle on a blue background",
    "a mountain lake at sunset, oil painting",
    "a portrait of an old man, studio lighting",
)
DEFAULT_STEPS = 10


def calibration_picture(width: int, height: int) -> Image.Image:
    """A deterministic RGB picture for the inpainting pipeline: colour gradients with a bright disc."""
    y, x = np.mgrid[0:height, 0:width]
    picture = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, 90)], axis=-1).astype(np.float32)
    picture[(y - height * 0.5) ** 2 + (x - width * 0.4) ** 2 < (min(width, height) * 0.3) ** 2] = (230, 200, 60)
    return Image.fromarray(picture.astype(np.uint8))


def centred_mask(width: int, height: int) -> Image.Image:
    """White (repaint) centred rectangle, half the picture's width and height, on black."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
    return Image.fromarray(mask)


CALIBRATED_PARTS = ("unet", "vae_decoder")  # the models whose inputs a pipeline run records
KEY_INPUTS = {"unet": "sample", "vae_decoder": "latent_sample"}


def _recorder(runs: list[dict[str, np.ndarray]], key: str) -> Callable[[Mapping[str, np.ndarray]], None]:
    """A feed observer appending a copy of each run's feeds that hold ``key`` (the pipeline reuses its buffers)."""

    def record(feeds: Mapping[str, np.ndarray]) -> None:
        if key in feeds:
            runs.append({name: np.array(value, copy=True) for name, value in feeds.items()})

    return record


def collect_unet_inputs(
    folder: str | Path,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    num_inference_steps: int = DEFAULT_STEPS,
    height: int | None = None,
    width: int | None = None,
    guidance_scale: float = 7.5,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Run the float32 pipeline of the exported ``folder`` once per prompt and return a copy of the UNet's
    feeds at every step (``len(prompts) * num_inference_steps`` dicts). ``height``/``width`` default to
    the model's own size. Raises ValueError for ControlNet exports and for an empty prompt list."""
    return collect_inputs(folder, ("unet",), prompts, num_inference_steps, height, width, guidance_scale, seed)["unet"]


def collect_inputs(
    folder: str | Path,
    parts: Sequence[str] = CALIBRATED_PARTS,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    num_inference_steps: int = DEFAULT_STEPS,
    height: int | None = None,
    width: int | None = None,
    guidance_scale: float = 7.5,
    seed: int = 0,
) -> dict[str, list[dict[str, np.ndarray]]]:
    """part -> a copy of every feed of that model while the float32 pipeline of the exported ``folder`` makes
    one picture per prompt: the UNet's at every step (``len(prompts) * num_inference_steps`` dicts), the VAE
    decoder's once per picture (``len(prompts)``; the pictures are decoded only when ``parts`` holds it).
    ``height``/``width`` default to the model's own size. Raises ValueError for parts other than
    :data:`CALIBRATED_PARTS`, ControlNet exports and an empty prompt list."""
    from ortdiffusion.pipelines import StableDiffusionInpaintPipeline, StableDiffusionPipeline
    from ortdiffusion.pipelines.components import load_components

    unknown = [part for part in parts if part not in CALIBRATED_PARTS]
    if unknown or not parts:
        raise ValueError(f"calibration records the inputs of {' and '.join(CALIBRATED_PARTS)}, not {unknown or 'nothing'}")
    if not prompts:
        raise ValueError("calibration needs at least one prompt")
    components = load_components(Path(folder))
    inpainting = components.unet_in_channels == 9
    if inpainting:  # the inpainting pipeline encodes the masked picture
        components.reload("vae_encoder")
    if components.num_controlnets:
        raise ValueError(
            f"{folder}: static int8 calibration of ControlNet exports is not supported (their control images "
            "depend on the ControlNet's kind); quantize the plain UNet export, or use --precision int8"
        )
    recorded: dict[str, list[dict[str, np.ndarray]]] = {part: [] for part in parts}
    for part in parts:
        getattr(components, part).feed_observer = _recorder(recorded[part], KEY_INPUTS[part])
    pipe = (StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline)(components)
    pipe.set_progress_bar_config(disable=True)
    size = components.default_sample_size * components.vae_scale_factor
    height, width = height or size, width or size
    output_type = "np" if "vae_decoder" in parts else "latent"
    for k, prompt in enumerate(prompts):
        args = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "generator": seed + k,
                "height": height, "width": width, "output_type": output_type}
        if inpainting:
            pipe(prompt, image=calibration_picture(width, height), mask_image=centred_mask(width, height), **args)
        else:
            pipe(prompt, **args)
        logger.info("calibration prompt %d/%d recorded (%s)", k + 1, len(prompts),
                    ", ".join(f"{len(runs)} {part} runs" for part, runs in recorded.items()))
    return recorded
