"""Random inpainting masks for training the 9-channel UNet, as numpy (True = repaint).

Three kinds, chosen per sample, so the model learns both to re-draw the prompt's shape where it is masked
and to continue a background:
- a square around the shape (its circumscribed square plus a margin): the mask the semantic tests use,
  inpainting "a yellow star" where a red circle was;
- a random rectangle anywhere (the shape partly, wholly or not at all inside);
- the whole picture (inpainting degenerates to text-to-image, as in diffusers' inpainting training).
"""

from __future__ import annotations

import numpy as np

from ortdiffusion.training import shapes

SHAPE_BOX_PROBABILITY = 0.5
FULL_PROBABILITY = 0.1
BOX_MARGIN = 0.06  # fraction of the side added around the shape's circumscribed square
MIN_RECT, MAX_RECT = 0.2, 0.7  # random rectangle sides, as fractions of the side


def shape_box(attributes: shapes.ShapeAttributes, size: int, margin: float = BOX_MARGIN) -> np.ndarray:
    """Boolean [size, size] mask of the square circumscribing the shape, ``margin`` wider on each side."""
    mask = np.zeros((size, size), dtype=bool)
    half = attributes.radius + margin
    x0, x1 = (attributes.center[0] - half) * size, (attributes.center[0] + half) * size
    y0, y1 = (attributes.center[1] - half) * size, (attributes.center[1] + half) * size
    mask[max(0, int(np.floor(y0))):min(size, int(np.ceil(y1))), max(0, int(np.floor(x0))):min(size, int(np.ceil(x1)))] = True
    return mask


def random_rectangle(rng: np.random.Generator, size: int) -> np.ndarray:
    """Boolean [size, size] mask of a rectangle with sides in [MIN_RECT, MAX_RECT] of the picture."""
    height, width = (rng.uniform(MIN_RECT, MAX_RECT, size=2) * size).astype(int)
    top, left = rng.integers(0, size - height + 1), rng.integers(0, size - width + 1)
    mask = np.zeros((size, size), dtype=bool)
    mask[top:top + height, left:left + width] = True
    return mask


def training_mask(seed: int, index: int, attributes: shapes.ShapeAttributes, size: int) -> np.ndarray:
    """The mask of item ``index`` of dataset ``seed`` (its own generator, like shapes.sample_at)."""
    rng = np.random.default_rng([seed, index, 1])
    draw = rng.random()
    if draw < FULL_PROBABILITY:
        return np.ones((size, size), dtype=bool)
    if draw < FULL_PROBABILITY + SHAPE_BOX_PROBABILITY:
        return shape_box(attributes, size)
    return random_rectangle(rng, size)
