"""The synthetic shapes dataset used to train the default model: deterministic, captions that say what is
drawn, masks that are exactly the shape's pixels, every colour and shape reachable."""

from __future__ import annotations

import numpy as np
import pytest

from ortdiffusion.training import shapes

SIZE = 64


def test_same_seed_and_index_give_the_same_sample() -> None:
    a, b = shapes.sample_at(3, 17, SIZE), shapes.sample_at(3, 17, SIZE)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.caption == b.caption and a.attributes == b.attributes


def test_items_do_not_depend_on_the_items_before_them() -> None:
    images, captions = shapes.batch(5, 10, 4, SIZE)
    single = shapes.sample_at(5, 12, SIZE)
    np.testing.assert_array_equal(images[2], single.image)
    assert captions[2] == single.caption


def test_different_seeds_differ() -> None:
    first = [shapes.sample_at(0, i, SIZE).caption for i in range(20)]
    second = [shapes.sample_at(1, i, SIZE).caption for i in range(20)]
    assert first != second


def test_sample_types_and_shapes() -> None:
    image, caption, mask, attributes = shapes.sample_at(0, 0, SIZE)
    assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
    assert mask.dtype == bool and mask.shape == (SIZE, SIZE)
    assert isinstance(caption, str) and isinstance(attributes, shapes.ShapeAttributes)


@pytest.mark.parametrize("index", range(40))
def test_mask_is_exactly_the_pixels_of_the_shape_colour(index: int) -> None:
    image, _, mask, attributes = shapes.sample_at(11, index, SIZE)
    in_colour = np.all(image == np.array(shapes.COLOURS[attributes.colour], dtype=np.uint8), axis=-1)
    assert mask.any(), "the shape must be visible"
    np.testing.assert_array_equal(in_colour, mask)


@pytest.mark.parametrize("index", range(40))
def test_background_pixels_use_the_background_colours(index: int) -> None:
    image, _, mask, attributes = shapes.sample_at(12, index, SIZE)
    background = np.array([shapes.COLOURS[c] for c in attributes.background], dtype=np.uint8)
    pixels = image[~mask]
    matches = np.any(np.all(pixels[:, None, :] == background[None, :, :], axis=-1), axis=-1)
    assert matches.all()


@pytest.mark.parametrize("index", range(40))
def test_caption_words_match_the_attributes(index: int) -> None:
    _, caption, _, attributes = shapes.sample_at(13, index, SIZE)
    words = caption.split()
    assert words[:2] == [shapes.article(attributes.colour), attributes.colour] and words[2] == attributes.shape
    assert words[3:5] == ["on", shapes.article(attributes.background[0])] and words[-1] == "background"
    assert [w for w in words[5:-1] if w != "and"] == list(attributes.background)
    assert attributes.colour not in attributes.background
    assert len(set(attributes.background)) == len(attributes.background)
    assert caption == shapes.caption_for(attributes)


def test_captions_use_an_before_vowels() -> None:
    attributes = shapes.ShapeAttributes("ring", "orange", ("orange",), None, (0.5, 0.5), 0.2, 0.0)
    assert shapes.caption_for(attributes) == "an orange ring on an orange background"
    attributes = shapes.ShapeAttributes("star", "red", ("blue",), None, (0.5, 0.5), 0.2, 0.0)
    assert shapes.caption_for(attributes) == "a red star on a blue background"


def test_two_tone_caption_and_split() -> None:
    attributes = shapes.ShapeAttributes("circle", "red", ("blue", "white"), "vertical", (0.5, 0.5), 0.2, 0.0)
    image, caption, _, _ = shapes.render(attributes, SIZE)
    assert caption == "a red circle on a blue and white background"
    assert tuple(image[0, 0]) == shapes.COLOURS["blue"]  # first colour: left half
    assert tuple(image[0, SIZE - 1]) == shapes.COLOURS["white"]


def test_every_shape_colour_and_background_kind_is_reachable() -> None:
    samples = [shapes.sample_at(21, i, 16).attributes for i in range(600)]
    assert {s.shape for s in samples} == set(shapes.SHAPES)
    assert {s.colour for s in samples} == set(shapes.COLOURS)
    assert {c for s in samples for c in s.background} == set(shapes.COLOURS)
    assert {s.split for s in samples} == {None, *shapes.SPLITS}


@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_every_shape_stays_inside_the_image_at_the_largest_size(shape: str) -> None:
    radius = shapes.MAX_RADIUS
    corner = shapes.ShapeAttributes(shape, "red", ("blue",), None, (radius, radius), radius, shapes.MAX_ROTATION)
    mask = shapes.render(corner, SIZE).mask
    area = mask.sum()
    centred = shapes.render(
        shapes.ShapeAttributes(shape, "red", ("blue",), None, (0.5, 0.5), radius, shapes.MAX_ROTATION), SIZE
    ).mask.sum()
    assert abs(int(area) - int(centred)) <= 0.05 * centred  # not clipped by the border


def test_ring_has_a_hole_and_outline_draws_less_than_fill() -> None:
    ring = shapes.ShapeAttributes("ring", "red", ("blue",), None, (0.5, 0.5), 0.3, 0.0)
    assert not shapes.render(ring, SIZE).mask[SIZE // 2, SIZE // 2]
    square = shapes.ShapeAttributes("square", "red", ("blue",), None, (0.5, 0.5), 0.3, 0.0)
    assert shapes.shape_mask(square, SIZE, outline=2).sum() < shapes.shape_mask(square, SIZE).sum()


def test_unknown_names_raise_with_the_name() -> None:
    with pytest.raises(ValueError, match="'hexagon'"):
        shapes.render(shapes.ShapeAttributes("hexagon", "red", ("blue",), None, (0.5, 0.5), 0.2, 0.0))
    with pytest.raises(ValueError, match="'teal'"):
        shapes.render(shapes.ShapeAttributes("circle", "teal", ("blue",), None, (0.5, 0.5), 0.2, 0.0))


def test_shapes_module_does_not_need_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from ortdiffusion.training import shapes\n"
        "shapes.sample_at(0, 0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
