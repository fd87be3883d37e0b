"""The two picture styles the shipped LoRAs are trained on, drawn from the same attributes as the base
dataset and captioned with the base caption (so a LoRA changes how a prompt is drawn, not what it says):

- ``outline``: the shape drawn as its contour only, ``OUTLINE_WIDTH`` pixels thick at 64x64;
- ``complement``: every colour (shape and background) replaced by its complementary colour on the
  painter's wheel within the dataset's palette (red <-> green, orange <-> blue, yellow <-> purple,
  white <-> black).

numpy + OpenCV only, like shapes.py, so the semantic tests can use it without torch.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ortdiffusion.training import shapes

STYLES: tuple[str, ...] = ("outline", "complement")
OUTLINE_WIDTH = 3  # pixels at 64x64; scaled with the picture size

COMPLEMENTS: dict[str, str] = {
    "red": "green", "green": "red",
    "orange": "blue", "blue": "orange",
    "yellow": "purple", "purple": "yellow",
    "white": "black", "black": "white",
}


def complement(attributes: shapes.ShapeAttributes) -> shapes.ShapeAttributes:
    """The same picture with every colour replaced by its complement (``COMPLEMENTS``)."""
    return replace(attributes, colour=COMPLEMENTS[attributes.colour],
                   background=tuple(COMPLEMENTS[c] for c in attributes.background))


def outline_width(size: int) -> int:
    """Contour thickness for a ``size`` x ``size`` picture (``OUTLINE_WIDTH`` at 64)."""
    return max(1, round(OUTLINE_WIDTH * size / 64))


def render_styled(attributes: shapes.ShapeAttributes, style: str, size: int = 64) -> np.ndarray:
    """uint8 [size, size, 3] picture of ``attributes`` in ``style`` (see the module docstring)."""
    if style == "outline":
        return shapes.render(attributes, size, outline=outline_width(size)).image
    if style == "complement":
        return shapes.render(complement(attributes), size).image
    raise ValueError(f"unknown style {style!r}; styles: {', '.join(STYLES)}")


def styled_batch(style: str, seed: int, start: int, count: int, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """Items ``start`` .. ``start + count - 1`` of dataset ``seed`` drawn in ``style``, with their base
    captions: uint8 [count, size, size, 3] and the captions."""
    attributes = [shapes.sample_at(seed, start + i, size).attributes for i in range(count)]
    return np.stack([render_styled(a, style, size) for a in attributes]), [a.caption for a in attributes]
