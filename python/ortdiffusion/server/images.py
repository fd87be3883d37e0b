"""Pictures in requests and responses: base64 (plain or as a data URL) decoded with a pixel bound before
anything is allocated for them, and PNG responses carrying AUTOMATIC1111's ``parameters`` chunk."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from typing import Any

from PIL import Image, UnidentifiedImageError

from ortdiffusion.png import png_bytes
from ortdiffusion.server.errors import RequestError

# the formats pictures are read in (no EPS and the like, which PIL hands to other programs)
PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")


class BadImage(RequestError):
    """A field that does not hold a usable picture (413 when it is too big); ``field`` names it."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(field, f"{field}: {message}", status)


def decode_image(value: Any, field: str, max_pixels: int) -> Image.Image:
    """The picture in ``value`` (base64, or a ``data:image/...;base64,`` URL). BadImage for anything else, for
    a picture of more than ``max_pixels`` pixels (checked from its header, before decoding) or a broken one."""
    if not isinstance(value, str) or not value:
        raise BadImage(field, "expected a base64-encoded picture")
    data = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)  # line breaks allowed, as AUTOMATIC1111 does
    except (binascii.Error, ValueError):
        raise BadImage(field, "not valid base64") from None
    return open_image(raw, field, max_pixels)


def open_image(raw: bytes, field: str, max_pixels: int) -> Image.Image:
    """The picture in the file bytes ``raw``, bounded as in :func:`decode_image`."""
    try:
        with Image.open(io.BytesIO(raw), formats=PICTURE_FORMATS) as opened:
            if opened.width * opened.height > max_pixels:
                raise BadImage(field, f"the picture is {opened.width}x{opened.height}, more than the server's limit of "
                               f"{max_pixels} pixels", 413)
            opened.load()
            return opened.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise BadImage(field, f"not a readable picture ({e})") from None


def encode_png(image: Image.Image, params: Mapping[str, Any]) -> str:
    """``image`` as base64 PNG with the ``parameters`` text chunk built from ``params``."""
    return base64.b64encode(png_bytes(image, params)).decode("ascii")
