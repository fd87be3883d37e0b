"""Each ortdiffusion pipeline against the diffusers pipeline of the same name, on tiny random-weight models
built and exported in the session: same integer seed, no injected latents, output images (np, [0, 1])
within 2e-3 max abs (observed: a few 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import ortdiffusion as od

TOLERANCE = 2e-3
PROMPT = "a red circle on a blue background"
STEPS = 8


def scene(width: int, height: int, seed: int = 0) -> Image.Image:
    """A deterministic test picture: colour gradients with a bright disc."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, 90)], axis=-1).astype(np.float32)
    cy, cx, r = height * 0.5, width * 0.4, min(width, height) * 0.3
    image[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(150, 255, 3)
    return Image.fromarray(image.astype(np.uint8))


def box_mask(width: int, height: int) -> Image.Image:
    """White (repaint) rectangle in the right half on black."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : 3 * height // 4, width // 2 : width - 4] = 255
    return Image.fromarray(mask)


def _reference(diffusers_class, folder, **components):
    pipe = diffusers_class.from_pretrained(folder, safety_checker=None, requires_safety_checker=False, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _ours(our_class, folder):
    pipe = our_class.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _compare(ref_pipe, our_pipe, torch, seed: int = 0, **kwargs) -> np.ndarray:
    args = dict(prompt=PROMPT, num_inference_steps=STEPS, output_type="np", **kwargs)
    with torch.no_grad():
        expected = ref_pipe(**args, generator=torch.Generator().manual_seed(seed)).images
    got = our_pipe(**args, generator=seed).images
    assert got.shape == expected.shape
    err = float(np.abs(got - expected).max())
    assert err <= TOLERANCE, f"max abs difference {err:.3g} > {TOLERANCE}"
    return got


@pytest.fixture(scope="module")
def text2img(zoo):
    from diffusers import StableDiffusionPipeline

    return _reference(StableDiffusionPipeline, zoo.diffusers("base")), _ours(od.StableDiffusionPipeline, zoo.exported("base"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 32, "width": 32},
        {"height": 32, "width": 32, "eta": 0.7},
        {"height": 64, "width": 96, "negative_prompt": "blurry"},
        {"height": 32, "width": 32, "num_images_per_prompt": 2},
        {"height": 32, "width": 40, "guidance_scale": 1.0},
        {"height": 32, "width": 32, "prompt": ["a green star", "a blue square"], "negative_prompt": ["dark", "light"]},
    ],
    ids=["square", "eta", "non-square+negative", "two-per-prompt", "no-guidance", "two-prompts"],
)
def test_text2img_matches_diffusers(text2img, torch, kwargs):
    ref, ours = text2img
    prompt = kwargs.pop("prompt", PROMPT)
    args = dict(prompt=prompt, num_inference_steps=STEPS, output_type="np", **kwargs)
    with torch.no_grad():
        expected = ref(**args, generator=torch.Generator().manual_seed(1)).images
    got = ours(**args, generator=1).images
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_text2img_accepts_torch_and_our_generators(text2img, torch):
    _, ours = text2img
    args = {"prompt": PROMPT, "num_inference_steps": 3, "height": 32, "width": 32, "output_type": "np", "eta": 0.5}
    by_int = ours(**args, generator=5).images
    by_torch = ours(**args, generator=torch.Generator().manual_seed(5)).images
    by_ours = ours(**args, generator=od.Generator(5)).images
    np.testing.assert_array_equal(by_int, by_ours)
    np.testing.assert_allclose(by_torch, by_int, atol=1e-6)
    other = ours(**args, generator=6).images
    assert np.abs(other - by_int).max() > 1e-2  # the seed matters


def test_text2img_pil_and_latent_outputs(text2img):
    _, ours = text2img
    pil = ours(PROMPT, num_inference_steps=2, height=32, width=48, generator=0).images
    assert len(pil) == 1 and pil[0].size == (48, 32) and pil[0].mode == "RGB"
    latents = ours(PROMPT, num_inference_steps=2, height=32, width=48, generator=0, output_type="latent").images
    f = ours.vae_scale_factor  # 8, as in SD
    assert latents.shape == (1, 4, 32 // f, 48 // f)
    images, nsfw = ours(PROMPT, num_inference_steps=2, height=32, width=48, generator=0, return_dict=False)
    assert nsfw is None and len(images) == 1


def test_text2img_callback_on_step_end_sees_every_step(text2img):
    _, ours = text2img
    seen = []

    def callback(pipe, i, t, tensors):
        seen.append((i, t, tensors["latents"].shape))
        return {"latents": tensors["latents"]}

    ours(PROMPT, num_inference_steps=4, height=32, width=32, generator=0, callback_on_step_end=callback)
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert [s[1] for s in seen] == [751, 501, 251, 1]
    f = ours.vae_scale_factor
    assert all(s[2] == (1, 4, 32 // f, 32 // f) for s in seen)


@pytest.fixture(scope="module")
def img2img(zoo):
    from diffusers import StableDiffusionImg2ImgPipeline

    return (
        _reference(StableDiffusionImg2ImgPipeline, zoo.diffusers("base")),
        _ours(od.StableDiffusionImg2ImgPipeline, zoo.exported("base")),
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"strength": 0.6}, {"strength": 1.0, "eta": 0.5}, {"strength": 0.75, "num_images_per_prompt": 2}],
    ids=["strength-0.6", "strength-1+eta", "two-per-prompt"],
)
def test_img2img_matches_diffusers(img2img, torch, kwargs):
    ref, ours = img2img
    _compare(ref, ours, torch, seed=2, image=scene(96, 64), **kwargs)


@pytest.fixture(scope="module")
def inpaint(zoo):
    from diffusers import StableDiffusionInpaintPipeline

    return (
        _reference(StableDiffusionInpaintPipeline, zoo.diffusers("inpaint")),
        _ours(od.StableDiffusionInpaintPipeline, zoo.exported("inpaint")),
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"strength": 1.0}, {"strength": 0.7, "eta": 0.3}, {"strength": 1.0, "num_images_per_prompt": 2}],
    ids=["strength-1", "strength-0.7+eta", "two-per-prompt"],
)
def test_inpaint_matches_diffusers(inpaint, torch, kwargs):
    ref, ours = inpaint
    _compare(ref, ours, torch, seed=3, image=scene(64, 48), mask_image=box_mask(64, 48), height=48, width=64, **kwargs)


def test_inpaint_with_plain_unet_matches_diffusers(zoo, torch):
    from diffusers import StableDiffusionInpaintPipeline

    ref = _reference(StableDiffusionInpaintPipeline, zoo.diffusers("base"))
    ours = _ours(od.StableDiffusionInpaintPipeline, zoo.exported("base"))
    _compare(ref, ours, torch, seed=4, image=scene(32, 32), mask_image=box_mask(32, 32), height=32, width=32, strength=0.8)


def _controlnet_reference(zoo, count, img2img=False):
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetImg2ImgPipeline,
        StableDiffusionControlNetPipeline,
    )

    nets = [ControlNetModel.from_pretrained(zoo.controlnet(k)) for k in range(count)]
    cls = StableDiffusionControlNetImg2ImgPipeline if img2img else StableDiffusionControlNetPipeline
    return _reference(cls, zoo.diffusers("base"), controlnet=nets[0] if count == 1 else nets)


@pytest.fixture(scope="module")
def controlnet1(zoo):
    return _controlnet_reference(zoo, 1), _ours(od.StableDiffusionControlNetPipeline, zoo.exported("cn1"))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"control_guidance_end": 0.6, "controlnet_conditioning_scale": 0.5}, {"num_images_per_prompt": 2, "eta": 0.4}],
    ids=["default", "guidance-end-0.6", "two-per-prompt+eta"],
)
def test_controlnet_matches_diffusers(controlnet1, torch, kwargs):
    ref, ours = controlnet1
    with torch.no_grad():
        expected = ref(PROMPT, image=scene(48, 32, seed=1), num_inference_steps=STEPS, output_type="np",
                       generator=torch.Generator().manual_seed(5), **kwargs).images
    got = ours(PROMPT, control_image=scene(48, 32, seed=1), num_inference_steps=STEPS, output_type="np", generator=5, **kwargs).images
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_controlnet_changes_the_image(controlnet1):
    """Guard against a ControlNet that contributes nothing (zero residuals would pass parity trivially)."""
    _, ours = controlnet1
    args = {"prompt": PROMPT, "control_image": scene(48, 32, seed=1), "num_inference_steps": 4, "output_type": "np", "generator": 0}
    with_control = ours(**args).images
    without = ours(**args, controlnet_conditioning_scale=0.0).images
    assert np.abs(with_control - without).max() > 0.05


@pytest.fixture(scope="module")
def controlnet2(zoo):
    return _controlnet_reference(zoo, 2), _ours(od.StableDiffusionControlNetPipeline, zoo.exported("cn2"))


def test_two_controlnets_match_diffusers(controlnet2, torch):
    ref, ours = controlnet2
    images = [scene(32, 48, seed=2), scene(32, 48, seed=3)]
    kwargs = {"controlnet_conditioning_scale": [0.8, 1.2], "control_guidance_end": [1.0, 0.5]}
    with torch.no_grad():
        expected = ref(PROMPT, image=images, num_inference_steps=STEPS, output_type="np",
                       generator=torch.Generator().manual_seed(6), **kwargs).images
    got = ours(PROMPT, control_image=images, num_inference_steps=STEPS, output_type="np", generator=6, **kwargs).images
    assert got.shape == expected.shape == (1, 48, 32, 3)
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_controlnet_img2img_matches_diffusers(zoo, torch):
    ref = _controlnet_reference(zoo, 1, img2img=True)
    ours = _ours(od.StableDiffusionControlNetImg2ImgPipeline, zoo.exported("cn1"))
    kwargs = {"image": scene(48, 40), "control_image": scene(48, 40, seed=4), "strength": 0.7, "control_guidance_start": 0.2}
    _compare(ref, ours, torch, seed=7, **kwargs)


def test_two_controlnets_with_nested_per_prompt_lists_match_diffusers(controlnet2, torch):
    """diffusers reads [[net0, net1] for prompt 0, [net0, net1] for prompt 1] and transposes it."""
    ref, ours = controlnet2
    nested = [[scene(32, 32, seed=5), scene(32, 32, seed=6)], [scene(32, 32, seed=7), scene(32, 32, seed=8)]]
    prompts = ["a red circle", "a blue square"]
    with torch.no_grad():
        expected = ref(prompts, image=nested, num_inference_steps=4, output_type="np",
                       generator=torch.Generator().manual_seed(9)).images
    got = ours(prompts, control_image=nested, num_inference_steps=4, output_type="np", generator=9).images
    assert got.shape == expected.shape == (2, 32, 32, 3)
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_numpy_scalars_are_accepted_like_python_numbers(text2img):
    _, ours = text2img
    args = {"prompt": PROMPT, "num_inference_steps": 3, "height": 32, "width": 32, "output_type": "np", "generator": 0}
    plain = ours(**args, guidance_scale=7.5, eta=0.5).images
    numpy_typed = ours(**args, guidance_scale=np.float32(7.5), eta=np.float64(0.5)).images
    np.testing.assert_array_equal(plain, numpy_typed)
