"""The rest of diffusers' call signature (issue 16, part 4), against diffusers on tiny models: prompt_embeds and
negative_prompt_embeds (numpy or torch, from diffusers' own encode_prompt), guidance_rescale, the ControlNet
pipeline's control picture as ``image`` (``control_image`` kept as its alias), ControlNet ``guess_mode``, inpainting's
``padding_mask_crop`` and ``masked_image_latents``, and their bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from test_pipeline_parity import PROMPT, TOLERANCE, scene

import ortdiffusion as od

ARGS = {"num_inference_steps": 6, "height": 32, "width": 32, "output_type": "np"}


@pytest.fixture(scope="module")
def pipes(zoo):
    import diffusers

    ref = diffusers.StableDiffusionPipeline.from_pretrained(zoo.diffusers("base"), safety_checker=None,
                                                            requires_safety_checker=False)
    ref.set_progress_bar_config(disable=True)
    ours = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    ours.set_progress_bar_config(disable=True)
    return ref, ours


def _compare(torch, ref, ours, seed=1, ours_kwargs=None, **kwargs):
    with torch.no_grad():
        expected = ref(generator=torch.Generator().manual_seed(seed), **ARGS, **kwargs).images
    got = ours(generator=seed, **ARGS, **(ours_kwargs or kwargs)).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    return got


def test_prompt_embeds_from_diffusers_encode_prompt(torch, pipes):
    ref, ours = pipes
    with torch.no_grad():
        positive, negative = ref.encode_prompt([PROMPT, "a green square"], "cpu", 1, True, ["blurry", "dark"])
    both = _compare(torch, ref, ours, prompt_embeds=positive, negative_prompt_embeds=negative)
    # numpy works too, and without negative embeddings the negatives are encoded ("" here)
    _compare(torch, ref, ours, prompt_embeds=positive, ours_kwargs={"prompt_embeds": positive.numpy()})
    _compare(torch, ref, ours, prompt_embeds=positive, negative_prompt=["blurry", "dark"])
    from_text = ours([PROMPT, "a green square"], negative_prompt=["blurry", "dark"], generator=1, **ARGS).images
    assert np.abs(from_text - both).max() <= TOLERANCE


def test_guidance_rescale(torch, pipes):
    ref, ours = pipes
    rescaled = _compare(torch, ref, ours, prompt=PROMPT, guidance_rescale=0.7)
    plain = ours(PROMPT, generator=1, **ARGS).images
    assert np.abs(rescaled - plain).max() > 1e-3


def test_controlnet_takes_image_as_diffusers_names_it(torch, zoo):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    net = ControlNetModel.from_pretrained(zoo.controlnet(0))
    ref = StableDiffusionControlNetPipeline.from_pretrained(zoo.diffusers("base"), controlnet=net, safety_checker=None,
                                                            requires_safety_checker=False)
    ref.set_progress_bar_config(disable=True)
    ours = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("cn1"))
    ours.set_progress_bar_config(disable=True)
    args = {"num_inference_steps": 4, "output_type": "np"}
    with torch.no_grad():
        expected = ref(PROMPT, image=scene(48, 32, seed=1), generator=torch.Generator().manual_seed(5), **args).images
    got = ours(PROMPT, image=scene(48, 32, seed=1), generator=5, **args).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    positional = ours(PROMPT, scene(48, 32, seed=1), generator=5, **args).images
    alias = ours(PROMPT, control_image=scene(48, 32, seed=1), generator=5, **args).images
    np.testing.assert_array_equal(positional, got)
    np.testing.assert_array_equal(alias, got)
    with pytest.raises(ValueError, match="`image` and `control_image` are the same argument"):
        ours(PROMPT, image=scene(48, 32), control_image=scene(48, 32))


def test_bad_embeddings_and_rescale_are_named(pipes):
    _, ours = pipes
    good = np.zeros((1, 77, 32), np.float32)
    cases = [
        ({"prompt": PROMPT, "prompt_embeds": good}, "Cannot forward both `prompt` and `prompt_embeds`"),
        ({}, "Provide either `prompt` or `prompt_embeds`"),
        ({"prompt_embeds": np.zeros((77, 32), np.float32)}, "`prompt_embeds` must be \\[batch, tokens, width\\]"),
        ({"prompt_embeds": np.zeros((1, 77, 16), np.float32)}, "`prompt_embeds` are 16 wide but the UNet takes 32"),
        ({"prompt_embeds": good, "negative_prompt_embeds": np.zeros((2, 77, 32), np.float32)},
         "must have the same shape"),
        ({"prompt": PROMPT, "guidance_rescale": 2}, "`guidance_rescale` must be a number in \\[0, 1\\], got 2"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            ours(num_inference_steps=2, height=32, width=32, **kwargs)


def _clip_skipped(torch, ref, texts, clip_skip):
    """diffusers' encode_prompt with clip_skip, written out: with transformers 5 diffusers' own call fails
    (it reaches for text_encoder.text_model, which CLIPTextModel no longer has)."""
    ids = ref.tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = ref.text_encoder(ids, output_hidden_states=True).hidden_states[-(clip_skip + 1)]
        encoder = ref.text_encoder
        return getattr(encoder, "text_model", encoder).final_layer_norm(hidden)


@pytest.mark.parametrize("clip_skip", [1, 2])
def test_clip_skip(torch, pipes, clip_skip):
    ref, ours = pipes
    skipped = _compare(torch, ref, ours, prompt_embeds=_clip_skipped(torch, ref, [PROMPT], clip_skip),
                       negative_prompt_embeds=_clip_skipped(torch, ref, [""], clip_skip),
                       ours_kwargs={"prompt": PROMPT, "clip_skip": clip_skip})
    assert np.abs(skipped - ours(PROMPT, generator=1, **ARGS).images).max() > 1e-3
    # clip_skip 0 is the last layer itself
    np.testing.assert_allclose(ours(PROMPT, generator=1, clip_skip=0, **ARGS).images,
                               ours(PROMPT, generator=1, **ARGS).images, atol=1e-5)


def test_clip_skip_needs_the_hidden_states_output():
    pipe = od.StableDiffusionPipeline.from_pretrained("default")  # exported before the output existed
    with pytest.raises(ValueError, match="has no normed_hidden_states output, which clip_skip needs"):
        pipe("a red circle", clip_skip=1, num_inference_steps=1)
    with pytest.raises(ValueError, match="`clip_skip` must be an integer >= 0, got -1"):
        pipe("a red circle", clip_skip=-1, num_inference_steps=1)


@pytest.mark.parametrize(("count", "kwargs"), [
    (1, {"guidance_scale": 7.5}),
    (1, {"guidance_scale": 1.0, "controlnet_conditioning_scale": 0.7}),
    (2, {"guidance_scale": 5.0, "controlnet_conditioning_scale": [0.8, 1.2], "control_guidance_end": [1.0, 0.5]}),
], ids=["one-net-guided", "one-net-unguided", "two-nets"])
def test_controlnet_guess_mode_matches_diffusers(torch, zoo, count, kwargs):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    nets = [ControlNetModel.from_pretrained(zoo.controlnet(k)) for k in range(count)]
    ref = StableDiffusionControlNetPipeline.from_pretrained(zoo.diffusers("base"), controlnet=nets[0] if count == 1 else nets,
                                                            safety_checker=None, requires_safety_checker=False)
    ref.set_progress_bar_config(disable=True)
    ours = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported(f"cn{count}"))
    ours.set_progress_bar_config(disable=True)
    images = [scene(32, 48, seed=2 + k) for k in range(count)]
    image = images[0] if count == 1 else images
    args = {"num_inference_steps": 4, "output_type": "np", "guess_mode": True, **kwargs}
    with torch.no_grad():
        expected = ref(PROMPT, image=image, generator=torch.Generator().manual_seed(5), **args).images
    got = ours(PROMPT, image=image, generator=5, **args).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    normal = ours(PROMPT, image=image, generator=5, **{**args, "guess_mode": False}).images
    assert float(np.abs(got - normal).max()) > 0.01  # guess mode changed the picture


def test_guess_mode_on_an_export_with_one_scale_per_controlnet_says_re_export():
    """The embedded Canny ControlNet model was exported before per-residual scales."""
    ours = od.StableDiffusionControlNetPipeline.from_pretrained("default_canny")
    assert len(ours.components.unet.inputs["conditioning_scale"].shape) == 1
    with pytest.raises(ValueError, match="guess_mode needs a scale per residual.*export the model again"):
        ours("a red circle", image=scene(64, 64), num_inference_steps=2, guess_mode=True)


@pytest.fixture(scope="module")
def inpaint_pipes(zoo):
    from diffusers import StableDiffusionInpaintPipeline

    ref = StableDiffusionInpaintPipeline.from_pretrained(zoo.diffusers("inpaint"), safety_checker=None,
                                                         requires_safety_checker=False)
    ref.set_progress_bar_config(disable=True)
    ours = od.StableDiffusionInpaintPipeline.from_pretrained(zoo.exported("inpaint"))
    ours.set_progress_bar_config(disable=True)
    return ref, ours


def _small_mask(width: int, height: int, box: tuple[int, int, int, int] = (20, 34, 40, 52)):
    """White in rows box[0]:box[1], columns box[2]:box[3]; by default a 12 x 14 patch off-centre."""
    from PIL import Image

    mask = np.zeros((height, width), dtype=np.uint8)
    mask[box[0] : box[1], box[2] : box[3]] = 255
    return Image.fromarray(mask)


@pytest.mark.parametrize(("box", "padding"), [((20, 34, 40, 52), 0), ((20, 34, 40, 52), 6), ((10, 14, 8, 60), 6)],
                         ids=["tall-box", "tall-box-padded", "wide-box-padded"])
def test_padding_mask_crop_matches_diffusers(torch, inpaint_pipes, box, padding):
    """PIL output (diffusers allows no other here): equal to diffusers' within one level of 255 (the
    rounding of a float difference under 2e-3; measured: equal), and the pixels outside the mask are the
    original's. The boxes are widened (tall box) or heightened (wide box) to the 48x32 output's ratio."""
    ref, ours = inpaint_pipes
    picture, mask = scene(72, 56, seed=3), _small_mask(72, 56, box)
    args = {"image": picture, "mask_image": mask, "height": 32, "width": 48, "num_inference_steps": 4,
            "padding_mask_crop": padding}
    with torch.no_grad():
        expected = np.asarray(ref(PROMPT, generator=torch.Generator().manual_seed(2), **args).images[0], np.int16)
    got = np.asarray(ours(PROMPT, generator=2, **args).images[0], np.int16)
    assert got.shape == expected.shape == (56, 72, 3)
    assert int(np.abs(got - expected).max()) <= 1
    outside = np.asarray(mask) == 0
    np.testing.assert_array_equal(got[outside], np.asarray(picture, np.int16)[outside])
    assert np.abs(got[~outside] - np.asarray(picture, np.int16)[~outside]).max() > 10  # the mask was repainted


def test_masked_image_latents_match_diffusers(torch, inpaint_pipes):
    ref, ours = inpaint_pipes
    latents = np.random.default_rng(4).standard_normal((1, 4, 4, 4), dtype=np.float32)
    args = {"image": scene(32, 32), "mask_image": _small_mask(64, 64).resize((32, 32)), "height": 32, "width": 32,
            "num_inference_steps": 4, "output_type": "np"}
    with torch.no_grad():
        expected = ref(PROMPT, generator=torch.Generator().manual_seed(2), masked_image_latents=torch.from_numpy(latents),
                       **args).images
    got = ours(PROMPT, generator=2, masked_image_latents=latents, **args).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    encoded = ours(PROMPT, generator=2, **args).images
    assert float(np.abs(got - encoded).max()) > 0.01  # the given latents were used


def test_bad_padding_mask_crop_and_masked_image_latents(inpaint_pipes):
    _, ours = inpaint_pipes
    args = {"image": scene(32, 32), "mask_image": _small_mask(64, 64).resize((32, 32)), "height": 32, "width": 32,
            "num_inference_steps": 2}
    with pytest.raises(ValueError, match="output type should be PIL"):
        ours(PROMPT, padding_mask_crop=4, output_type="np", **args)
    with pytest.raises(ValueError, match="`padding_mask_crop` must be a number of pixels"):
        ours(PROMPT, padding_mask_crop=-1, **args)
    with pytest.raises(ValueError, match="black everywhere"):
        ours(PROMPT, padding_mask_crop=4, **{**args, "mask_image": np.zeros((32, 32), np.uint8)})
    with pytest.raises(ValueError, match=r"`masked_image_latents` has shape \(1, 4, 8, 8\); expected \[n, 4, 4, 4\]"):
        ours(PROMPT, masked_image_latents=np.zeros((1, 4, 8, 8), np.float32), **args)
