"""Folders exported by ``optimum-cli export onnx`` load in our pipelines and give diffusers' images.

The fixture tests/data/optimum-micro is the micro pipeline of tiny_models.py exported by optimum
(scripts/make_optimum_fixture.py rebuilds it); here the same seeded builder recreates the diffusers
reference. optimum's conventions differ from ours: a scalar float timestep, no tokenizer.json (built from
vocab.json + merges.txt), the UNet without external data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from test_pipeline_parity import TOLERANCE, scene

import ortdiffusion as od

FIXTURE = Path(__file__).parent / "data" / "optimum-micro"


@pytest.fixture(scope="module")
def reference(torch):
    from diffusers import StableDiffusionImg2ImgPipeline
    from tiny_models import build_micro_pipeline

    text2img = build_micro_pipeline()
    return text2img, StableDiffusionImg2ImgPipeline(**text2img.components)


def test_fixture_holds_the_weights_the_builder_makes(reference):
    """If the builder changed, say so rather than fail the image comparison."""
    unet = reference[0].unet
    graph = onnx.load(str(FIXTURE / "unet" / "model.onnx"))
    initializers = {t.name: t for t in graph.graph.initializer}
    assert "conv_in.weight" in initializers
    np.testing.assert_array_equal(
        numpy_helper.to_array(initializers["conv_in.weight"]), unet.conv_in.weight.detach().numpy(),
        err_msg="tests/data/optimum-micro is stale: rerun scripts/make_optimum_fixture.py",
    )


def test_optimum_unet_takes_a_scalar_timestep():
    pipe = od.StableDiffusionPipeline.from_pretrained(FIXTURE)
    assert pipe.components.unet.inputs["timestep"].shape == ()
    assert not (FIXTURE / "tokenizer" / "tokenizer.json").exists()


@pytest.mark.parametrize("kwargs", [{"height": 64, "width": 96}, {"height": 32, "width": 32, "eta": 0.5, "num_images_per_prompt": 2}])
def test_optimum_export_text2img_matches_diffusers(reference, torch, kwargs):
    ours = od.StableDiffusionPipeline.from_pretrained(FIXTURE)
    ours.set_progress_bar_config(disable=True)
    args = {"prompt": "a red circle", "num_inference_steps": 8, "output_type": "np", **kwargs}
    with torch.no_grad():
        expected = reference[0](**args, generator=torch.Generator().manual_seed(1)).images
    got = ours(**args, generator=1).images
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_optimum_export_img2img_matches_diffusers(reference, torch):
    ours = od.StableDiffusionImg2ImgPipeline.from_pretrained(FIXTURE)
    ours.set_progress_bar_config(disable=True)
    args = {"prompt": "a red circle", "image": scene(64, 48), "strength": 0.7, "num_inference_steps": 8, "output_type": "np"}
    with torch.no_grad():
        expected = reference[1](**args, generator=torch.Generator().manual_seed(2)).images
    got = ours(**args, generator=2).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
