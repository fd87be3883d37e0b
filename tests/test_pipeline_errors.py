"""Bad input to the pipelines gets a clear error naming the argument, before any model runs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

import ortdiffusion as od
from ortdiffusion.models import default_model_path


@pytest.fixture(scope="module")
def text2img():
    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def img2img():
    pipe = od.StableDiffusionImg2ImgPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def inpaint():
    pipe = od.StableDiffusionInpaintPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def gray(width: int, height: int) -> Image.Image:
    return Image.fromarray(np.full((height, width, 3), 128, dtype=np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"height": 62, "width": 64}, r"divisible by \d+ but are 62 and 64"),  # 8 for SD 1.x, 4 for the shipped model's VAE
        ({"height": 64, "width": 0}, r"divisible by \d+ but are 64 and 0"),
        ({"num_inference_steps": 0}, "`num_inference_steps` must be an integer >= 1, got 0"),
        ({"num_images_per_prompt": 0}, "`num_images_per_prompt`"),
        ({"output_type": "jpeg"}, "`output_type` must be one of"),
        ({"eta": -1.0}, "`eta` must be a finite number >= 0"),
        ({"negative_prompt": ["a", "b"]}, "`negative_prompt` has batch size 2"),
        ({"latents": np.zeros((1, 4, 3, 3), np.float32)}, "`latents` have shape"),
        ({"callback_on_step_end_tensor_inputs": ["noise"]}, "callback_on_step_end_tensor_inputs"),
    ],
)
def test_text2img_rejects_bad_arguments(text2img, kwargs, match):
    with pytest.raises(ValueError, match=match):
        text2img("a cat", **kwargs)


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_latents_with_nan_or_inf_are_refused(text2img, value):
    side = 64 // text2img.vae_scale_factor
    with pytest.raises(ValueError, match="`latents` contain NaN or infinite values"):
        text2img("a cat", latents=np.full((1, 4, side, side), value, np.float32), height=64, width=64)


def test_prompt_must_be_text(text2img):
    with pytest.raises(TypeError, match="`prompt` must be a string"):
        text2img(42)
    with pytest.raises(TypeError, match="generator must be"):
        text2img("a cat", generator="seed")


@pytest.mark.parametrize("strength", [-0.1, 1.5, "high"])
def test_strength_outside_unit_interval(img2img, strength):
    with pytest.raises(ValueError, match="`strength` should be in"):
        img2img("a cat", image=gray(64, 64), strength=strength)


def test_strength_too_small_for_any_step(img2img):
    with pytest.raises(ValueError, match="leaves no denoising step"):
        img2img("a cat", image=gray(64, 64), strength=0.01, num_inference_steps=10)


def test_unreadable_and_missing_images(img2img, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read .*bad.png"):
        img2img("a cat", image=bad)
    with pytest.raises(FileNotFoundError, match="image: no image file"):
        img2img("a cat", image=tmp_path / "missing.png")


def test_mask_must_match_image_size(inpaint):
    with pytest.raises(ValueError, match="`mask_image` is 32x32 but `image` is 64x64"):
        inpaint("a cat", image=gray(64, 64), mask_image=Image.new("L", (32, 32)))


def test_missing_model_files_are_named(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(default_model_path(), folder)
    (folder / "vae_encoder" / "model.onnx").unlink()
    od.StableDiffusionPipeline.from_pretrained(folder)  # text2img does not need the encoder
    with pytest.raises(FileNotFoundError, match="vae_encoder/model.onnx"):
        od.StableDiffusionImg2ImgPipeline.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="no exported pipeline folder"):
        od.StableDiffusionPipeline.from_pretrained(tmp_path / "nowhere")


def test_pipeline_refuses_a_unet_exported_for_another_task(zoo):
    with pytest.raises(ValueError, match="UNet\\+ControlNet export"):
        od.StableDiffusionPipeline.from_pretrained(zoo.exported("cn1"))
    with pytest.raises(ValueError, match="lacks the inputs \\['controlnet_cond', 'conditioning_scale'\\]"):
        od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("base"))
    with pytest.raises(ValueError, match="inpainting UNet"):
        od.StableDiffusionImg2ImgPipeline.from_pretrained(zoo.exported("inpaint"))


def test_controlnet_arguments_are_checked(zoo):
    pipe = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("cn2"))
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="`image` is required \\(the control picture"):
        pipe("a cat")
    with pytest.raises(TypeError, match="list of 2 images"):
        pipe("a cat", control_image=gray(32, 32))
    with pytest.raises(ValueError, match="`controlnet_conditioning_scale` has 3 entries"):
        pipe("a cat", control_image=[gray(32, 32)] * 2, controlnet_conditioning_scale=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="control_guidance_start < control_guidance_end"):
        pipe("a cat", control_image=[gray(32, 32)] * 2, control_guidance_start=0.8, control_guidance_end=0.2)
    with pytest.raises(ValueError, match="different sizes"):
        pipe("a cat", control_image=[gray(32, 32), gray(48, 32)])


def test_inpaint_counts_and_every_mask_size_are_checked(inpaint):
    with pytest.raises(ValueError, match="got 2 `image` for a batch of 1"):
        inpaint("a cat", image=[gray(64, 64), gray(64, 64)], mask_image=Image.new("L", (64, 64)))
    with pytest.raises(ValueError, match="got 2 `mask_image` for a batch of 3"):
        inpaint(["a", "b", "c"], image=gray(64, 64), mask_image=[Image.new("L", (64, 64))] * 2)
    with pytest.raises(ValueError, match="`mask_image` is 32x32 but `image` is 64x64"):
        inpaint(["a", "b"], image=gray(64, 64), mask_image=[Image.new("L", (64, 64)), Image.new("L", (32, 32))])


def test_controlnet_img2img_refuses_nested_lists(zoo):
    pipe = od.StableDiffusionControlNetImg2ImgPipeline.from_pretrained(zoo.exported("cn2"))
    with pytest.raises(ValueError, match="nested `control_image` lists"):
        pipe(["a", "b"], image=gray(32, 32), control_image=[[gray(32, 32)] * 2] * 2)
