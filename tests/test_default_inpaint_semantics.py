"""The shipped inpainting variant repaints only the masked square, and repaints it as the prompt says:
a dataset picture's shape is masked (its circumscribed square plus a margin, the training masks' main
kind) and the prompt asks for another shape in another colour on the same background. Thresholds come
from measured margins (numbers in each test), over several seeds and pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from shipped_models import generate

import ortdiffusion as od
from ortdiffusion.models import default_model_path
from ortdiffusion.training import shapes
from ortdiffusion.training.inpaint_masks import shape_box
from ortdiffusion.training.scoring import PALETTE_NAMES, classify_shape, nearest_colours

SEEDS = (0, 1, 2)
SIZE = 64
OUTSIDE_MARGIN = 4  # pixels between the mask and the region checked as unchanged (one latent + blur)
# (source picture, prompt attributes): the background stays, shape and colour change
CASES = [
    (shapes.ShapeAttributes("circle", "red", ("blue",), None, (0.5, 0.5), 0.25, 0.0),
     shapes.ShapeAttributes("square", "yellow", ("blue",), None, (0.5, 0.5), 0.25, 0.0)),
    (shapes.ShapeAttributes("square", "white", ("green",), None, (0.35, 0.4), 0.22, 0.0),
     shapes.ShapeAttributes("circle", "black", ("green",), None, (0.35, 0.4), 0.22, 0.0)),
    (shapes.ShapeAttributes("triangle", "orange", ("purple",), None, (0.6, 0.6), 0.25, 0.0),
     shapes.ShapeAttributes("circle", "white", ("purple",), None, (0.6, 0.6), 0.25, 0.0)),
    (shapes.ShapeAttributes("star", "blue", ("yellow", "red"), "vertical", (0.5, 0.5), 0.28, 0.0),
     shapes.ShapeAttributes("square", "green", ("yellow", "red"), "vertical", (0.5, 0.5), 0.28, 0.0)),
]


@pytest.fixture(scope="module")
def results():
    pipe = od.StableDiffusionInpaintPipeline.from_pretrained(default_model_path("inpaint"))
    pipe.set_progress_bar_config(disable=True)
    out = []
    for source, wanted in CASES:
        picture = shapes.render(source, SIZE).image
        mask = shape_box(source, SIZE)
        images = [generate(pipe, wanted.caption, seed, image=Image.fromarray(picture),
                           mask_image=Image.fromarray(mask.astype(np.uint8) * 255))[0] for seed in SEEDS]
        out.append((source, wanted, picture, mask, images))
    return out


def _outside(mask: np.ndarray) -> np.ndarray:
    import cv2

    kernel = np.ones((2 * OUTSIDE_MARGIN + 1,) * 2, np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) == 0


def test_unmasked_region_is_kept(results):
    """Mean absolute difference to the source picture outside the mask (4 px away from it): measured
    1.1-3.1 / 255 (the VAE's round trip), against 43-102 / 255 inside (at least 15x)."""
    for source, wanted, picture, mask, images in results:
        for image in images:
            difference = np.abs(image.astype(int) - picture.astype(int))
            outside, inside = difference[_outside(mask)].mean(), difference[mask].mean()
            assert outside < 6.0, (wanted.caption, outside)
            assert inside > 5 * outside, (wanted.caption, inside, outside)


def test_masked_region_follows_the_prompt(results):
    """Inside the mask the prompt's shape colour covers 33-79% of the pixels (measured) and the old shape
    colour none; the new blob is recognised as the prompt's shape (measured 12 of 12)."""
    new_fractions, old_fractions, shapes_ok = [], [], []
    for source, wanted, picture, mask, images in results:
        for image in images:
            nearest = nearest_colours(image)[mask]
            new_fractions.append(float(np.mean(nearest == PALETTE_NAMES.index(wanted.colour))))
            old_fractions.append(float(np.mean(nearest == PALETTE_NAMES.index(source.colour))))
            shapes_ok.append(classify_shape(image, wanted.colour)[0] == wanted.shape)
    assert np.mean([f >= 0.25 for f in new_fractions]) >= 0.9, new_fractions
    assert max(old_fractions) <= 0.02, old_fractions
    assert np.mean(shapes_ok) >= 0.75, shapes_ok
