"""Inpainting only the masked area at full resolution (diffusers' ``padding_mask_crop``, AUTOMATIC1111's
"inpaint only masked"): the mask's bounding box, padded and widened to the output's aspect ratio, is cut
from the picture and the mask, resized to the output size (keeping its aspect ratio, the edges stretched
into any margin), repainted, and pasted back into the original picture where the mask is white.

Ports of diffusers' ``VaeImageProcessor.get_crop_region``, ``_resize_and_fill``, ``_resize_and_crop`` and
``apply_overlay`` (image_processor.py), with PIL's Lanczos resampling as the SD pipelines configure it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

RESAMPLE = Image.Resampling.LANCZOS


def get_crop_region(mask_image: Image.Image, width: int, height: int, pad: int = 0) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2): the box around every non-zero mask pixel, grown by ``pad`` on each side (within the
    picture), then widened or heightened about its centre to the aspect ratio ``width / height`` (shifted to
    stay inside the picture)."""
    mask = np.array(mask_image.convert("L"))
    h, w = mask.shape
    columns, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if columns.size == 0:  # diffusers divides by zero here
        raise ValueError("mask_image is black everywhere: with padding_mask_crop there is no masked area to crop to")
    # 1. the empty columns and rows on each side (diffusers counts them in loops)
    crop_left, crop_right = int(columns[0]), int(w - 1 - columns[-1])
    crop_top, crop_bottom = int(rows[0]), int(h - 1 - rows[-1])
    # 2. add padding to the crop region
    x1, y1 = int(max(crop_left - pad, 0)), int(max(crop_top - pad, 0))
    x2, y2 = int(min(w - crop_right + pad, w)), int(min(h - crop_bottom + pad, h))
    # 3. expand the crop region to the aspect ratio of the processing size
    ratio_crop_region = (x2 - x1) / (y2 - y1)
    ratio_processing = width / height
    if ratio_crop_region > ratio_processing:
        y1, y2 = _grow(y1, y2, int((x2 - x1) / ratio_processing - (y2 - y1)), mask_image.height)
    else:
        x1, x2 = _grow(x1, x2, int((y2 - y1) * ratio_processing - (x2 - x1)), mask_image.width)
    return x1, y1, x2, y2


def _grow(low: int, high: int, diff: int, limit: int) -> tuple[int, int]:
    """[low, high) grown by ``diff`` about its centre, then shifted back inside [0, limit) and clipped (the same
    steps for either axis in diffusers' get_crop_region)."""
    low -= diff // 2
    high += diff - diff // 2
    if high >= limit:
        low, high = low - (high - limit), limit
    if low < 0:
        low, high = 0, high - low
    return low, min(high, limit)


def resize_and_fill(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` resized to fit in width x height keeping its aspect ratio, centred on an RGB canvas, the
    margins filled by stretching its first and last rows (or columns)."""
    ratio = width / height
    src_ratio = image.width / image.height
    src_w = width if ratio < src_ratio else image.width * height // image.height
    src_h = height if ratio >= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), resample=RESAMPLE)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio:
        fill_height = height // 2 - src_h // 2
        if fill_height > 0:
            res.paste(resized.resize((width, fill_height), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(resized.resize((width, fill_height), box=(0, resized.height, width, resized.height)),
                      box=(0, fill_height + src_h))
    elif ratio > src_ratio:
        fill_width = width // 2 - src_w // 2
        if fill_width > 0:
            res.paste(resized.resize((fill_width, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(resized.resize((fill_width, height), box=(resized.width, 0, resized.width, height)),
                      box=(fill_width + src_w, 0))
    return res


def resize_and_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` resized to cover width x height keeping its aspect ratio, centred, the excess cut off."""
    ratio = width / height
    src_ratio = image.width / image.height
    src_w = width if ratio > src_ratio else image.width * height // image.height
    src_h = height if ratio <= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), resample=RESAMPLE)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res


def apply_overlay(mask: Image.Image, init_image: Image.Image, image: Image.Image,
                  crop_coords: tuple[int, int, int, int] | None = None) -> Image.Image:
    """The repainted ``image`` (of the crop ``crop_coords``, resized back into it) composited under the
    original ``init_image`` wherever ``mask`` is black: only the masked pixels change."""
    width, height = init_image.width, init_image.height
    init_image_masked = Image.new("RGBa", (width, height))
    init_image_masked.paste(init_image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    init_image_masked = init_image_masked.convert("RGBA")
    if crop_coords is not None:
        x, y, x2, y2 = crop_coords
        base_image = Image.new("RGBA", (width, height))
        base_image.paste(resize_and_crop(image, x2 - x, y2 - y), (x, y))
        image = base_image.convert("RGB")
    image = image.convert("RGBA")
    image.alpha_composite(init_image_masked)
    return image.convert("RGB")
