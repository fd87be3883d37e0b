"""A deterministic synthetic dataset of coloured shapes with captions, for training a tiny Stable Diffusion.

Each sample is one filled shape in a named colour, at a random position and size, on a plain background
or a background split in two colours (left/right or top/bottom), with a caption from a small grammar::

    a red circle on a blue background
    a yellow star on a green and white background     (first colour: left or top half)
    an orange ring on a purple background             ("an" before a vowel)

Everything is numpy + OpenCV (no torch), so tests and the pipelines' semantic checks can use it. The same
``(seed, index)`` always gives the same sample: :func:`sample_at` seeds a fresh generator from both.
Shapes are drawn without anti-aliasing, so the returned mask is exactly the set of pixels in the shape's
colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

# Well separated named colours (every name is a single CLIP token); RGB values.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "purple": (140, 50, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}

# Every shape name is a single CLIP token.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring", "cross")

SPLITS: tuple[str, ...] = ("vertical", "horizontal")  # two-tone background: left|right or top/bottom

# Sampling ranges, as fractions of the image side.
MIN_RADIUS, MAX_RADIUS = 0.16, 0.36  # half-extent of the shape
MAX_ROTATION = 15.0  # degrees, for the polygons (circles and rings are rotation-free)
TWO_TONE_PROBABILITY = 0.3

STAR_INNER_RATIO = 0.45  # inner / outer radius of the five-pointed star
RING_INNER_RATIO = 0.55  # hole / outer radius of the ring
CROSS_ARM_RATIO = 0.38  # arm width / outer radius of the cross (plus sign)


@dataclass(frozen=True)
class ShapeAttributes:
    """What a sample shows: everything its caption says, plus the geometry it does not."""

    shape: str
    colour: str
    background: tuple[str, ...]  # one colour, or two for a two-tone background (left/top first)
    split: str | None  # "vertical" or "horizontal" for two-tone backgrounds, else None
    center: tuple[float, float]  # (x, y) as fractions of the width and height
    radius: float  # half-extent as a fraction of the image side
    rotation: float  # degrees, counter-clockwise

    @property
    def caption(self) -> str:
        """The caption for these attributes (see :func:`caption_for`)."""
        return caption_for(self)


class ShapeSample(NamedTuple):
    """One dataset item; unpacks as ``image, caption, mask, attributes``."""

    image: np.ndarray  # uint8 [H, W, 3] RGB
    caption: str
    mask: np.ndarray  # bool [H, W], True on the shape
    attributes: ShapeAttributes


def article(word: str) -> str:
    """"an" before a vowel sound (every vowel-initial word of the vocabulary has one), else "a"."""
    return "an" if word[0] in "aeiou" else "a"


def caption_for(attributes: ShapeAttributes) -> str:
    """``"a {colour} {shape} on a {background} background"`` ("an orange ..."); a two-tone background reads
    ``"{first} and {second}"``."""
    background = " and ".join(attributes.background)
    first = attributes.background[0]
    return (f"{article(attributes.colour)} {attributes.colour} {attributes.shape} "
            f"on {article(first)} {background} background")


def random_attributes(rng: np.random.Generator) -> ShapeAttributes:
    """Uniformly chosen shape and colours (background colours differ from the shape's and each other),
    a position keeping the whole shape inside the image."""
    names = list(COLOURS)
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = names[rng.integers(len(names))]
    others = [c for c in names if c != colour]
    if rng.random() < TWO_TONE_PROBABILITY:
        picked = rng.choice(len(others), size=2, replace=False)
        background = (others[picked[0]], others[picked[1]])
        split: str | None = SPLITS[rng.integers(len(SPLITS))]
    else:
        background = (others[rng.integers(len(others))],)
        split = None
    radius = float(rng.uniform(MIN_RADIUS, MAX_RADIUS))
    # The circumscribed circle of every shape has this radius, so centres in [r, 1 - r] keep it inside.
    center = (float(rng.uniform(radius, 1.0 - radius)), float(rng.uniform(radius, 1.0 - radius)))
    rotation = 0.0 if shape in ("circle", "ring") else float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    return ShapeAttributes(shape, colour, background, split, center, radius, rotation)


def _polygon(shape: str, cx: float, cy: float, r: float, rotation: float) -> list[np.ndarray]:
    """Outline polygon(s) of a polygonal shape in pixel coordinates, as int32 [N, 1, 2] arrays."""
    if shape == "square":
        # a square inscribed in the circle of radius r: corners at 45 + 90k degrees
        angles = np.deg2rad(45.0 + 90.0 * np.arange(4))
        radii = np.full(4, r)
    elif shape == "triangle":
        # equilateral, apex up (image y grows downwards, hence the minus below)
        angles = np.deg2rad(90.0 + 120.0 * np.arange(3))
        radii = np.full(3, r)
    elif shape == "star":
        # five points: outer vertices every 72 degrees from the top, inner ones in between
        angles = np.deg2rad(90.0 + 36.0 * np.arange(10))
        radii = np.where(np.arange(10) % 2 == 0, r, r * STAR_INNER_RATIO)
    elif shape == "cross":
        # a plus sign: 12 corners; half arm width w, arm length r (corners at distance <= r)
        w = r * CROSS_ARM_RATIO / 2
        arm = np.sqrt(r * r - w * w)
        xy = np.array([(w, arm), (w, w), (arm, w), (arm, -w), (w, -w), (w, -arm),
                       (-w, -arm), (-w, -w), (-arm, -w), (-arm, w), (-w, w), (-w, arm)])
        angles = np.arctan2(xy[:, 1], xy[:, 0])
        radii = np.hypot(xy[:, 0], xy[:, 1])
    else:
        raise ValueError(f"not a polygonal shape: {shape!r} (polygons: square, triangle, star, cross)")
    angles = angles + np.deg2rad(rotation)
    points = np.stack([cx + radii * np.cos(angles), cy - radii * np.sin(angles)], axis=-1)
    return [np.round(points).astype(np.int32).reshape(-1, 1, 2)]


def shape_mask(attributes: ShapeAttributes, size: int, outline: int = 0) -> np.ndarray:
    """Boolean [size, size] mask of the shape (no anti-aliasing). ``outline`` > 0 draws only the contour,
    that many pixels thick (for an outline-style dataset)."""
    if attributes.shape not in SHAPES:
        raise ValueError(f"unknown shape {attributes.shape!r}; known: {', '.join(SHAPES)}")
    canvas = np.zeros((size, size), dtype=np.uint8)
    cx, cy = attributes.center[0] * size, attributes.center[1] * size
    r = attributes.radius * size
    fill = -1 if outline <= 0 else outline
    if attributes.shape in ("circle", "ring"):
        center = (round(cx), round(cy))
        cv2.circle(canvas, center, round(r), 1, fill, lineType=cv2.LINE_8)
        if attributes.shape == "ring":
            inner = round(r * RING_INNER_RATIO)
            if outline <= 0:
                cv2.circle(canvas, center, inner, 0, -1, lineType=cv2.LINE_8)
            else:
                cv2.circle(canvas, center, inner, 1, outline, lineType=cv2.LINE_8)
    else:
        polygon = _polygon(attributes.shape, cx, cy, r, attributes.rotation)
        if outline <= 0:
            cv2.fillPoly(canvas, polygon, 1, lineType=cv2.LINE_8)
        else:
            cv2.polylines(canvas, polygon, True, 1, outline, lineType=cv2.LINE_8)
    return canvas.astype(bool)


def render(attributes: ShapeAttributes, size: int = 64, outline: int = 0) -> ShapeSample:
    """Draw ``attributes`` into a ``size`` x ``size`` RGB image; returns the full sample."""
    unknown = [c for c in (attributes.colour, *attributes.background) if c not in COLOURS]
    if unknown:
        raise ValueError(f"unknown colour(s) {unknown}; known: {', '.join(COLOURS)}")
    if len(attributes.background) == 2 and attributes.split not in SPLITS:
        raise ValueError(f"a two-tone background needs split in {SPLITS}, got {attributes.split!r}")
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = COLOURS[attributes.background[0]]
    if len(attributes.background) == 2:
        second = COLOURS[attributes.background[1]]
        half = size // 2
        if attributes.split == "vertical":
            image[:, half:] = second
        else:
            image[half:, :] = second
    mask = shape_mask(attributes, size, outline)
    image[mask] = COLOURS[attributes.colour]
    return ShapeSample(image, caption_for(attributes), mask, attributes)


def random_sample(rng: np.random.Generator, size: int = 64) -> ShapeSample:
    """A random sample drawn with ``rng`` (advances it)."""
    return render(random_attributes(rng), size)


def sample_at(seed: int, index: int, size: int = 64) -> ShapeSample:
    """Item ``index`` of the dataset ``seed``: the same pair always gives the same sample, independently
    of the items before it (each item seeds its own generator from ``[seed, index]``)."""
    return random_sample(np.random.default_rng([seed, index]), size)


def batch(seed: int, start: int, count: int, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """Items ``start`` .. ``start + count - 1`` of dataset ``seed``: uint8 images [count, size, size, 3] and
    their captions."""
    samples = [sample_at(seed, start + i, size) for i in range(count)]
    return np.stack([s.image for s in samples]), [s.caption for s in samples]
