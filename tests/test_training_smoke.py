"""The training command runs end to end at toy scale (a few steps): VAE, then text encoder + UNet, then
sampling, then the inpainting UNet, the ControlNet and a LoRA on that base, and leaves folders and files
the exporter and the LoRA loader read. The variants start exactly at the base model (zero-initialised
extra inputs and zero convolutions). Whether the results are any good is the semantic tests' job, on the
real run."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import ControlNetModel, StableDiffusionInpaintPipeline, StableDiffusionPipeline

from ortdiffusion.training.__main__ import main


@pytest.fixture(scope="module")
def toy_base(tmp_path_factory):
    """A VAE + base pipeline trained for 3 steps (seconds), shared by the variant tests."""
    tmp_path = tmp_path_factory.mktemp("toy")
    vae, base = tmp_path / "vae", tmp_path / "base"
    assert main(["--threads", "1", "vae", "--out", str(vae), "--steps", "2", "--batch-size", "2"]) == 0
    assert main(["--threads", "1", "base", "--vae", str(vae), "--out", str(base), "--steps", "2", "--batch-size", "2",
                 "--dataset-size", "8"]) == 0
    return base


TOY = ["--steps", "2", "--batch-size", "2", "--dataset-size", "8"]


def test_inpaint_command_widens_the_unet_and_starts_as_the_base(toy_base, tmp_path):
    from ortdiffusion.training.inpaint import widen_to_inpainting

    base_unet = StableDiffusionPipeline.from_pretrained(toy_base).unet
    widened = widen_to_inpainting(base_unet)
    sample = torch.randn(1, 4, 16, 16)
    hidden = torch.randn(1, 77, base_unet.config.cross_attention_dim)
    with torch.no_grad():  # whatever the mask and masked latents, step 0 predicts what the base predicts
        expected = base_unet(sample, 500, encoder_hidden_states=hidden).sample
        got = widened(torch.cat([sample, torch.randn(1, 5, 16, 16)], 1), 500, encoder_hidden_states=hidden).sample
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert main(["--threads", "1", "inpaint", "--base", str(toy_base), "--out", str(tmp_path / "inpaint"), *TOY]) == 0
    pipe = StableDiffusionInpaintPipeline.from_pretrained(tmp_path / "inpaint")
    assert pipe.unet.config.in_channels == 9


def test_controlnet_command_starts_as_the_base(toy_base, tmp_path):
    from ortdiffusion.training.controlnet import build_controlnet, control_images

    unet = StableDiffusionPipeline.from_pretrained(toy_base).unet
    net = build_controlnet(unet, vae_factor=4)
    edges = control_images(seed=0, count=1, size=64)
    assert edges.shape == (1, 3, 64, 64) and 0 < edges.mean() < 0.5 and set(edges.unique().tolist()) <= {0.0, 1.0}
    sample, hidden = torch.randn(1, 4, 16, 16), torch.randn(1, 77, unet.config.cross_attention_dim)
    with torch.no_grad():  # the conditioning embedding reaches latent size, and the zero convolutions add 0
        down, mid = net(sample, 500, encoder_hidden_states=hidden, controlnet_cond=edges, return_dict=False)
    assert all(float(r.abs().max()) == 0.0 for r in [*down, mid])
    assert main(["--threads", "1", "controlnet", "--base", str(toy_base), "--out", str(tmp_path / "cn"), *TOY]) == 0
    assert ControlNetModel.from_pretrained(tmp_path / "cn").config.conditioning_embedding_out_channels == [16, 32, 64]


def test_lora_command_writes_a_diffusers_lora_ortdiffusion_reads(toy_base, tmp_path):
    from ortdiffusion.lora.formats import load_lora_file

    out = tmp_path / "lora"
    assert main(["--threads", "1", "lora", "--base", str(toy_base), "--style", "outline", "--out", str(out),
                 "--rank", "2", *TOY]) == 0
    lora = load_lora_file(out / "pytorch_lora_weights.safetensors")
    layers = lora.layers["unet"]
    assert not lora.kohya and {layer.rank for layer in layers.values()} == {2}
    assert {layer.scale for layer in layers.values()} == {1.0}  # rank == alpha: weight 1 is the trained strength
    names = " ".join(layers)
    assert ".attn1.to_q" in names and "ff.net.2" in names and "resnets.0.conv1" in names


def test_vae_base_and_sample_commands_at_toy_scale(tmp_path):
    vae, base = tmp_path / "vae", tmp_path / "base"
    assert main(["--threads", "1", "vae", "--out", str(vae), "--steps", "3", "--batch-size", "2"]) == 0
    summary = json.loads((vae / "training_summary.json").read_text())
    assert summary["scaling_factor"] > 0
    assert main(["--threads", "1", "base", "--vae", str(vae), "--out", str(base), "--steps", "3", "--batch-size", "2",
                 "--dataset-size", "8"]) == 0
    pipe = StableDiffusionPipeline.from_pretrained(base)
    assert pipe.vae.config.scaling_factor == summary["scaling_factor"]
    assert main(["--threads", "1", "sample", "--model", str(base), "--out", str(tmp_path / "grid.png"), "--steps", "2",
                 "--count", "2"]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0
