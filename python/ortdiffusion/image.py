"""Image pre- and post-processing for the pipelines, without torch.

- ``prepare_image`` / ``prepare_mask`` / ``prepare_control_image`` mirror diffusers' ``VaeImageProcessor``
  as Stable Diffusion pipelines configure it (image: RGB in [-1, 1]; inpaint mask: grayscale, binarized at
  0.5; ControlNet image: RGB in [0, 1]), including its default size: the image's own, rounded down to a
  multiple of the VAE scale factor, with PIL's Lanczos resize.
- ``postprocess`` mirrors ``VaeImageProcessor.postprocess`` for ``"np"`` and ``"pil"``.
- ``resize_and_pad`` (aspect-preserving resize and padding with OpenCV) and ``canny`` (edges for a Canny
  ControlNet) are the OpenCV helpers users of ONNX SD pipelines expect.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ortdiffusion.mask_crop import resize_and_fill

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]


def load_image(image: ImageInput, name: str = "image") -> Image.Image:
    """A PIL image from a path, a PIL image, or an HxW / HxWxC uint8 array; clear errors for unreadable
    or empty inputs naming ``name`` (the argument) and the file."""
    if isinstance(image, Image.Image):
        picture = image
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: no image file at {str(path)!r}")
        try:
            with Image.open(path) as opened:
                opened.load()
                picture = opened.copy()
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"{name}: cannot read {str(path)!r} as an image ({e})") from e
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise TypeError(f"{name}: arrays must be HxW or HxWxC uint8, got {image.dtype} of shape {image.shape}")
        picture = Image.fromarray(image)
    else:
        raise TypeError(f"{name} must be a path, a PIL image or a uint8 array, got {type(image).__name__}")
    if picture.width == 0 or picture.height == 0:
        raise ValueError(f"{name}: image is empty ({picture.width}x{picture.height})")
    return picture


def default_size(image: Image.Image, height: int | None, width: int | None, vae_scale_factor: int = 8) -> tuple[int, int]:
    """(height, width) as diffusers' ``get_default_height_width``: the given values or the image's, each
    rounded down to a multiple of ``vae_scale_factor``."""
    height = image.height if height is None else height
    width = image.width if width is None else width
    return height - height % vae_scale_factor, width - width % vae_scale_factor


def _as_list(images: Any) -> list[Any]:
    return list(images) if isinstance(images, (list, tuple)) else [images]


def _resized(images: Any, height: int | None, width: int | None, vae_scale_factor: int, name: str,
             crop: tuple[int, int, int, int] | None = None) -> list[Image.Image]:
    """diffusers' ``VaeImageProcessor.preprocess`` on PIL pictures: cut to ``crop`` first if given, then resized
    (with ``crop``, as its ``resize_mode="fill"``: aspect ratio kept, margins filled; mask_crop.py)."""
    pictures = [load_image(i, name) for i in _as_list(images)]
    if crop is not None:
        pictures = [p.crop(crop) for p in pictures]
    h, w = default_size(pictures[0], height, width, vae_scale_factor)
    if h <= 0 or w <= 0:
        raise ValueError(f"{name}: size {w}x{h} after rounding to a multiple of {vae_scale_factor} is empty")
    if crop is not None:
        return [resize_and_fill(p, w, h) for p in pictures]
    return [p.resize((w, h), resample=Image.Resampling.LANCZOS) for p in pictures]


def _to_nchw(pictures: Sequence[Image.Image]) -> np.ndarray:
    """VaeImageProcessor.pil_to_numpy + numpy_to_pt: uint8 / 255 as float32, NHWC -> NCHW."""
    arrays = np.stack([np.array(p).astype(np.float32) / 255.0 for p in pictures], axis=0)
    if arrays.ndim == 3:
        arrays = arrays[..., None]
    return np.ascontiguousarray(arrays.transpose(0, 3, 1, 2))


def prepare_image(
    images: Any, height: int | None = None, width: int | None = None, vae_scale_factor: int = 8,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Init image(s) for img2img/inpaint: float32 [B, 3, H, W] in [-1, 1] (diffusers' image_processor);
    ``crop`` (x1, y1, x2, y2): only that box, resized keeping its aspect ratio (padding_mask_crop)."""
    pictures = [p.convert("RGB") for p in _resized(images, height, width, vae_scale_factor, "image", crop)]
    return 2.0 * _to_nchw(pictures) - 1.0


def prepare_mask(
    masks: Any, height: int | None = None, width: int | None = None, vae_scale_factor: int = 8,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Inpainting mask(s): float32 [B, 1, H, W] of 0 (keep) and 1 (repaint), thresholded at 0.5 after a
    grayscale conversion (diffusers' mask_processor); ``crop`` as in :func:`prepare_image`."""
    pictures = [p.convert("L") for p in _resized(masks, height, width, vae_scale_factor, "mask_image", crop)]
    mask = _to_nchw(pictures)
    return np.where(mask < 0.5, 0.0, 1.0).astype(np.float32)


def prepare_control_image(
    images: Any, height: int | None = None, width: int | None = None, vae_scale_factor: int = 8
) -> np.ndarray:
    """ControlNet conditioning image(s): float32 [B, 3, H, W] in [0, 1] (diffusers' control_image_processor)."""
    pictures = [p.convert("RGB") for p in _resized(images, height, width, vae_scale_factor, "control_image")]
    return _to_nchw(pictures)


def postprocess(images: np.ndarray, output_type: str = "pil") -> list[Image.Image] | np.ndarray:
    """Decoded VAE output [B, 3, H, W] in [-1, 1] -> ``"np"``: float32 [B, H, W, 3] in [0, 1], or
    ``"pil"``: a list of RGB images (diffusers' postprocess: x * 0.5 + 0.5, clamped, x 255 rounded)."""
    if output_type not in ("np", "pil"):
        raise ValueError(f"output_type must be 'np' or 'pil' here, got {output_type!r}")
    if images.ndim != 4:
        raise ValueError(f"expected images of shape [batch, channels, height, width], got {images.shape}")
    array = np.clip(images.astype(np.float32) * 0.5 + 0.5, 0.0, 1.0).transpose(0, 2, 3, 1)
    if output_type == "np":
        return np.ascontiguousarray(array)
    as_uint8 = (array * 255).round().astype(np.uint8)
    return [Image.fromarray(a.squeeze(-1), mode="L") if a.shape[-1] == 1 else Image.fromarray(a) for a in as_uint8]


def resize_and_pad(image: ImageInput, width: int, height: int, fill: int = 0) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Fit ``image`` inside ``width`` x ``height`` keeping its aspect ratio (OpenCV: area filter when
    shrinking, bicubic when enlarging), centred on a ``fill`` background. Returns the image and the box
    (left, top, right, bottom) where the picture sits, to crop the result back afterwards."""
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width}x{height}")
    picture = np.array(load_image(image).convert("RGB"))
    src_h, src_w = picture.shape[:2]
    scale = min(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(picture, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((height, width, 3), fill, dtype=np.uint8)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return Image.fromarray(canvas), (left, top, left + new_w, top + new_h)


def canny(image: ImageInput, low_threshold: int = 100, high_threshold: int = 200) -> Image.Image:
    """Canny edges of ``image`` as a 3-channel white-on-black RGB image, the conditioning a Canny ControlNet
    expects (as in diffusers' ControlNet examples: cv2.Canny, stacked to 3 channels)."""
    if not 0 <= low_threshold <= high_threshold:
        raise ValueError(f"need 0 <= low_threshold <= high_threshold, got {low_threshold} and {high_threshold}")
    gray = np.array(load_image(image, "control image").convert("RGB"))
    edges = cv2.Canny(gray, low_threshold, high_threshold)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))
