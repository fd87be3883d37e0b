"""Pictures sooner on the embedded model keep drawing what the prompt says: the shipped `lcm` LoRA at 4 steps
(LCMScheduler, guidance 1) and DeepCache with N = 2 at 20 steps, scored as the base model's semantic tests score
(nearest-named-colour coverage and shape recognition, training/scoring.py) on the same 12 held-out prompts and
seeds, against the plain 20-step picture of the same run. Measured numbers are in each test."""

from __future__ import annotations

import numpy as np
import pytest
from shipped_models import to_uint8
from test_default_model_semantics import SEEDS, _prompts

import ortdiffusion as od
from ortdiffusion.models import default_lora_path, default_model_path
from ortdiffusion.training.scoring import classify_shape, colour_check


def _rates(pipe, steps: int, guidance: float, **kwargs) -> tuple[float, float]:
    attributes = _prompts()
    prompts = [a.caption for a in attributes]
    colours, shapes = [], []
    for seed in SEEDS:
        images = to_uint8(pipe(prompts, num_inference_steps=steps, guidance_scale=guidance, generator=seed,
                               output_type="np", **kwargs).images)
        colours += [colour_check(image, a)["ok"] for image, a in zip(images, attributes)]
        shapes += [classify_shape(image, a.colour)[0] == a.shape for image, a in zip(images, attributes)]
    return float(np.mean(colours)), float(np.mean(shapes))


@pytest.fixture(scope="module")
def pipe():
    pipeline = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def plain_rates(pipe):
    return _rates(pipe, 20, 7.5)


def test_deep_cache_every_second_step_keeps_the_prompt(pipe, plain_rates):
    """Measured: colours 36/36 (plain 36/36), shapes 27/36 (plain 29/36)."""
    colours, shapes = _rates(pipe, 20, 7.5, cache_interval=2)
    assert colours >= 0.9 and shapes >= 0.6, (colours, shapes)
    assert colours >= plain_rates[0] - 0.1 and shapes >= plain_rates[1] - 0.15, (colours, shapes, plain_rates)


def test_shipped_lcm_lora_at_four_steps_keeps_the_prompt(plain_rates):
    """The `lcm` LoRA distilled here (scripts/train_default_model.sh), 4 LCM steps without guidance. Measured:
    colours 33/36 (plain 36/36: "a purple ring on a red background" loses its thin ring at every seed), shapes
    31/36 (plain 29/36)."""
    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(default_lora_path("lcm"))
    pipe.scheduler = od.LCMScheduler.from_config(pipe.scheduler.config)
    colours, shapes = _rates(pipe, 4, 1.0)
    assert colours >= 0.9 and shapes >= 0.6, (colours, shapes)
    assert colours >= plain_rates[0] - 0.1 and shapes >= plain_rates[1] - 0.15, (colours, shapes, plain_rates)


def test_shipped_tiny_decoder_draws_what_the_model_decoder_draws(plain_rates):
    """The tiny VAE decoder distilled here (training tiny-vae): the prompt's colours and shapes hold, and each
    picture is close to the model's own decoder's. Measured: colours 36/36, shapes 30/36 (plain 29/36), PSNR
    32.1 dB to the model decoder's pictures."""
    tiny = od.StableDiffusionPipeline.from_pretrained(default_model_path(), vae_decoder="tiny")
    tiny.set_progress_bar_config(disable=True)
    colours, shapes = _rates(tiny, 20, 7.5)
    assert colours >= plain_rates[0] - 0.1 and shapes >= plain_rates[1] - 0.15, (colours, shapes, plain_rates)
    plain = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    prompts = [a.caption for a in _prompts()]
    a = to_uint8(plain(prompts, num_inference_steps=20, generator=0, output_type="np").images).astype(np.float64)
    b = to_uint8(tiny(prompts, num_inference_steps=20, generator=0, output_type="np").images).astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / ((a - b) ** 2).mean())
    assert psnr >= 24.0, psnr
