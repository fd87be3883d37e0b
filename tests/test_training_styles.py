"""The LoRA styles and the inpainting masks of the training data (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from ortdiffusion.training import shapes
from ortdiffusion.training.inpaint_masks import random_rectangle, shape_box, training_mask
from ortdiffusion.training.styles import COMPLEMENTS, complement, outline_width, render_styled, styled_batch

CIRCLE = shapes.ShapeAttributes("circle", "red", ("blue", "white"), "vertical", (0.4, 0.6), 0.25, 0.0)


def test_complements_pair_up_the_palette():
    assert set(COMPLEMENTS) == set(shapes.COLOURS)
    assert all(COMPLEMENTS[COMPLEMENTS[c]] == c and COMPLEMENTS[c] != c for c in COMPLEMENTS)
    turned = complement(CIRCLE)
    assert (turned.colour, turned.background) == ("green", ("orange", "black")) and turned.center == CIRCLE.center


def test_styles_draw_the_same_attributes_differently():
    filled = shapes.render(CIRCLE).image
    outline = render_styled(CIRCLE, "outline")
    red = np.all(outline == shapes.COLOURS["red"], axis=-1)
    assert 0 < red.sum() < 0.75 * np.all(filled == shapes.COLOURS["red"], axis=-1).sum()  # 510 of 797 pixels
    assert outline[int(0.6 * 64), int(0.4 * 64)].tolist() == list(shapes.COLOURS["blue"])  # the hole shows the background
    turned = render_styled(CIRCLE, "complement")
    assert turned[int(0.6 * 64), int(0.4 * 64)].tolist() == list(shapes.COLOURS["green"])
    assert outline_width(64) == 3 and outline_width(128) == 6
    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        render_styled(CIRCLE, "sepia")


def test_styled_batch_keeps_the_base_captions():
    images, captions = styled_batch("complement", seed=5, start=10, count=3)
    assert images.shape == (3, 64, 64, 3)
    assert captions == [shapes.sample_at(5, 10 + i).caption for i in range(3)]


def test_shape_box_covers_the_shape_with_a_margin():
    box = shape_box(CIRCLE, 64)
    mask = shapes.shape_mask(CIRCLE, 64)
    assert np.all(box[mask]) and box.sum() > mask.sum()
    _, xs = np.nonzero(box)
    assert xs.min() <= (0.4 - 0.25 - 0.05) * 64 and xs.max() >= (0.4 + 0.25 + 0.05) * 64 - 1


def test_training_masks_are_deterministic_and_of_three_kinds():
    masks = [training_mask(3, i, shapes.sample_at(3, i).attributes, 64) for i in range(200)]
    again = [training_mask(3, i, shapes.sample_at(3, i).attributes, 64) for i in range(200)]
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))
    full = sum(m.all() for m in masks)
    boxes = sum(np.array_equal(m, shape_box(shapes.sample_at(3, i).attributes, 64)) for i, m in enumerate(masks))
    assert 5 <= full <= 40 and 70 <= boxes <= 130  # about 10% and 50%
    rect = random_rectangle(np.random.default_rng(0), 64)
    ys, xs = np.nonzero(rect)
    assert rect.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)  # one solid rectangle
