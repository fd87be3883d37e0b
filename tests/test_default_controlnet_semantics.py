"""The shipped Canny ControlNet variant puts the shape where the control edges are: the Canny edges of the
generated picture overlap the control image's edges (IoU after a 1-pixel tolerance) far more than those of
the same prompt and seed with the ControlNet's conditioning scale at 0 (the base model). The shapes sit
off-centre and at sizes the prompt does not say, so only the edges can place them. Thresholds come from
measured margins (numbers in each test)."""

from __future__ import annotations

import numpy as np
import pytest
from shipped_models import generate

import ortdiffusion as od
from ortdiffusion.image import canny
from ortdiffusion.models import default_model_path
from ortdiffusion.training import shapes
from ortdiffusion.training.scoring import colour_check, edge_iou

SEEDS = (0, 1, 2)
SIZE = 64
LAYOUTS = [
    shapes.ShapeAttributes("circle", "red", ("blue",), None, (0.3, 0.3), 0.2, 0.0),
    shapes.ShapeAttributes("square", "yellow", ("purple",), None, (0.65, 0.6), 0.25, 0.0),
    shapes.ShapeAttributes("triangle", "white", ("green",), None, (0.35, 0.65), 0.22, 0.0),
    shapes.ShapeAttributes("star", "orange", ("black",), None, (0.6, 0.35), 0.3, 0.0),
    shapes.ShapeAttributes("cross", "green", ("white",), None, (0.7, 0.7), 0.22, 0.0),
    shapes.ShapeAttributes("ring", "purple", ("yellow",), None, (0.45, 0.5), 0.32, 0.0),
]


def _edges(image: np.ndarray) -> np.ndarray:
    return np.asarray(canny(image))[..., 0] > 0


@pytest.fixture(scope="module")
def pipe():
    pipe = od.StableDiffusionControlNetPipeline.from_pretrained(default_model_path("controlnet"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def results(pipe):
    out = []
    for attributes in LAYOUTS:
        control = canny(shapes.render(attributes, SIZE).image)
        for seed in SEEDS:
            guided = generate(pipe, attributes.caption, seed, control_image=control)[0]
            unguided = generate(pipe, attributes.caption, seed, control_image=control,
                                controlnet_conditioning_scale=0.0)[0]
            out.append((attributes, np.asarray(control)[..., 0] > 0, guided, unguided))
    return out


def test_edges_follow_the_control_image(results):
    """Edge IoU (1 px tolerance) with the control edges, 6 layouts x 3 seeds: measured mean 0.64 (lowest
    0.39) with the ControlNet vs 0.08 (highest 0.23) at conditioning scale 0; higher in 18 of 18."""
    with_control = [edge_iou(_edges(g), control) for _, control, g, _ in results]
    without = [edge_iou(_edges(u), control) for _, control, _, u in results]
    assert np.mean(with_control) >= 0.45, with_control
    assert np.mean(with_control) >= np.mean(without) + 0.3, (with_control, without)
    assert np.mean([w > u for w, u in zip(with_control, without)]) >= 0.9


def test_the_prompt_still_sets_the_colours(results):
    """The ControlNet places the shape; the prompt still colours it: measured 18 of 18 pass."""
    checks = [colour_check(g, a)["ok"] for a, _, g, _ in results]
    assert np.mean(checks) >= 0.8


# a prompt that names another shape than the control edges draw
OTHER_SHAPE = {"circle": "square", "square": "star", "triangle": "circle", "star": "circle", "cross": "triangle",
               "ring": "cross"}


def test_edges_still_pull_against_a_prompt_naming_another_shape(pipe, results):
    """The edges win only in part when the prompt asks for another shape (training captions always named
    the edges' shape). Mean IoU over the 6 layouts, seed 0: 0.35 at scale 1 and 0.46 at scale 2, against
    0.09 at scale 0 (seeds 1 and 2: 0.37 / 0.49 / 0.07 and 0.34 / 0.52 / 0.05), where the matching prompt
    gets 0.64 (docs/embedded-model.md, its checks)."""
    iou: dict[float, list[float]] = {0.0: [], 1.0: [], 2.0: []}
    for attributes, control, _, _ in results[::len(SEEDS)]:  # one seed per layout keeps this quick
        image = canny(shapes.render(attributes, SIZE).image)
        prompt = attributes.caption.replace(attributes.shape, OTHER_SHAPE[attributes.shape])
        for scale, values in iou.items():
            picture = generate(pipe, prompt, 0, control_image=image, controlnet_conditioning_scale=scale)[0]
            values.append(edge_iou(_edges(picture), control))
    means = {scale: float(np.mean(values)) for scale, values in iou.items()}
    assert means[1.0] >= 0.22 and means[1.0] >= means[0.0] + 0.15, means
    assert means[2.0] >= means[1.0] + 0.05, means  # a stronger conditioning scale pulls harder
