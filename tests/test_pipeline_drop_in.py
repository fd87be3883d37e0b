"""The drop-in test: ortdiffusion.DDIMScheduler inside a diffusers StableDiffusionPipeline gives the
same image as diffusers' own DDIMScheduler (tiny random-weight pipeline built here, no download)."""

import numpy as np
import pytest
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from diffusers import DDIMScheduler as DiffusersDDIM

from ortdiffusion import DDIMScheduler, Generator


@pytest.fixture(scope="module")
def tiny_pipeline(torch):
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=16,
    )
    vae = AutoencoderKL(
        block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=16,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )
    scheduler = DiffusersDDIM(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    embeds = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    negative = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(2))
    return pipe, embeds, negative


def _run(pipe, embeds, negative, torch, **kwargs):
    with torch.no_grad():
        return pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=10,
                    guidance_scale=7.5, height=32, width=32, output_type="np", **kwargs).images


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_same_image_with_our_scheduler(tiny_pipeline, torch, eta):
    pipe, embeds, negative = tiny_pipeline
    original = pipe.scheduler
    try:
        ref = _run(pipe, embeds, negative, torch, eta=eta, generator=torch.Generator().manual_seed(0))
        pipe.scheduler = DDIMScheduler.from_config(original.config)
        ours = _run(pipe, embeds, negative, torch, eta=eta, generator=torch.Generator().manual_seed(0))
    finally:
        pipe.scheduler = original
    assert ours.shape == ref.shape == (1, 32, 32, 3)
    assert np.abs(ours - ref).max() <= 1e-4


def test_our_generator_reproduces_diffusers_seed(tiny_pipeline, torch):
    pipe, embeds, negative = tiny_pipeline
    ref = _run(pipe, embeds, negative, torch, generator=torch.Generator().manual_seed(42))
    side = 32 // pipe.vae_scale_factor
    latents = torch.from_numpy(Generator(42).randn((1, pipe.unet.config.in_channels, side, side)))
    ours = _run(pipe, embeds, negative, torch, latents=latents)
    assert np.abs(ours - ref).max() <= 1e-6
