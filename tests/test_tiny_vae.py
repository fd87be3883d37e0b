"""The tiny VAE decoder (diffusers' AutoencoderTiny, TAESD) as an opt-in decoder: exported beside a model, its
graph against AutoencoderTiny.decode and the whole pipeline against diffusers' pipeline with that VAE (random
weights, built here), the CLI flags, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import ortdiffusion as od
from ortdiffusion.cli import main
from ortdiffusion.exporter.tiny_vae import add_tiny_vae_decoder

TOLERANCE = 2e-3
PROMPT = "a red circle on a blue background"


def _tiny_vae(latent_channels: int = 4, seed: int = 4):
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    vae = AutoencoderTiny(encoder_block_out_channels=(16, 16, 16, 16), decoder_block_out_channels=(16, 16, 16, 16),
                          num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1),
                          latent_channels=latent_channels)
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    return vae.eval()


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("taesd") / "taesd"
    _tiny_vae().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def exported(zoo, tiny_vae, tmp_path_factory):
    from ortdiffusion.exporter import export_pipeline

    out = tmp_path_factory.mktemp("tiny-vae-export") / "onnx"
    export_pipeline(zoo.diffusers("base"), out, tiny_vae=tiny_vae)
    return out


def test_the_decoder_graph_matches_autoencoder_tiny(exported, tiny_vae, torch):
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(tiny_vae).eval()
    latents = np.random.default_rng(0).standard_normal((2, 4, 5, 7)).astype(np.float32) * 2
    with torch.no_grad():
        expected = vae.decode(torch.from_numpy(latents)).sample.numpy()
    pipe = od.StableDiffusionPipeline.from_pretrained(exported, vae_decoder="tiny")
    got = pipe.components.vae_decoder.run(latent_sample=latents)[0]
    assert got.shape == (2, 3, 40, 56)
    assert float(np.abs(got - expected).max()) <= 1e-5


def test_the_pipeline_matches_diffusers_with_autoencoder_tiny(zoo, exported, tiny_vae, torch):
    from diffusers import AutoencoderTiny, StableDiffusionPipeline

    reference = StableDiffusionPipeline.from_pretrained(zoo.diffusers("base"), safety_checker=None,
                                                        requires_safety_checker=False,
                                                        vae=AutoencoderTiny.from_pretrained(tiny_vae))
    reference.set_progress_bar_config(disable=True)
    args = {"prompt": PROMPT, "num_inference_steps": 4, "height": 32, "width": 48, "output_type": "np"}
    with torch.no_grad():
        expected = reference(**args, generator=torch.Generator().manual_seed(3)).images
    ours = od.StableDiffusionPipeline.from_pretrained(exported, vae_decoder="tiny")
    ours.set_progress_bar_config(disable=True)
    got = ours(**args, generator=3).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    default = od.StableDiffusionPipeline.from_pretrained(exported)(**args, generator=3).images
    assert float(np.abs(default - got).max()) > 10 * TOLERANCE  # the tiny decoder really decoded


def test_added_to_an_existing_export(zoo, tiny_vae, tmp_path):
    folder = tmp_path / "onnx"
    shutil.copytree(zoo.exported("base"), folder)
    target = add_tiny_vae_decoder(folder, tiny_vae)
    assert (target / "model.onnx").is_file() and (target / "config.json").is_file()
    with pytest.raises(FileExistsError, match="overwrite"):
        add_tiny_vae_decoder(folder, tiny_vae)
    add_tiny_vae_decoder(folder, tiny_vae, overwrite=True)
    assert not list(folder.glob(".*staging"))


def test_bad_input(zoo, tiny_vae, tmp_path):
    with pytest.raises(ValueError, match="vae_decoder must be one of default, tiny"):
        od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"), vae_decoder="small")
    with pytest.raises(FileNotFoundError, match=r"no tiny VAE decoder.*--tiny-vae"):
        od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"), vae_decoder="tiny")
    wrong = tmp_path / "taesd3"
    _tiny_vae(latent_channels=16).save_pretrained(wrong)
    folder = tmp_path / "onnx"
    shutil.copytree(zoo.exported("base"), folder)
    with pytest.raises(ValueError, match="16 latent channels, the model's latents have 4"):
        add_tiny_vae_decoder(folder, wrong)
    with pytest.raises(ValueError, match="not an AutoencoderTiny"):
        add_tiny_vae_decoder(folder, zoo.diffusers("base") / "vae")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        add_tiny_vae_decoder(folder, tmp_path / "nothing")
    assert not (folder / "vae_decoder_tiny").exists() and not list(folder.glob(".*staging"))


def test_cli(zoo, exported, tiny_vae, tmp_path, capsys):
    from ortdiffusion.png import read_parameters

    out = tmp_path / "t.png"
    assert main(["generate", PROMPT, "--model", str(exported), "--vae-decoder", "tiny", "--steps", "2", "--seed", "1",
                 "--height", "32", "--width", "32", "--quiet", "--out", str(out)]) == 0
    assert read_parameters(out)["vae_decoder"] == "tiny"
    assert main(["generate", PROMPT, "--model", str(zoo.exported("base")), "--vae-decoder", "tiny", "--steps", "2",
                 "--quiet", "--out", str(tmp_path / "x.png")]) == 2
    assert "--tiny-vae" in capsys.readouterr().err
    assert main(["export", "--model", str(zoo.diffusers("base")), "--output", str(tmp_path / "e"),
                 "--tiny-vae", str(tiny_vae)]) == 0
    assert (tmp_path / "e" / "vae_decoder_tiny" / "model.onnx").is_file()


def test_cli_live_preview_rewrites_the_file_after_every_step(zoo, tmp_path, capsys, monkeypatch):
    """``generate --preview FILE`` on the embedded model (it ships a tiny decoder): the file is replaced once per
    step, and what it holds at the end is the tiny decoder's picture of the final latents."""
    import os

    from PIL import Image

    from ortdiffusion.cli import preview

    replaced, move = [], os.replace
    shown, out = tmp_path / "live.png", tmp_path / "final.png"

    def counted(source, target):
        if Path(target) == shown:
            replaced.append(Path(target))
        move(source, target)

    monkeypatch.setattr(preview.os, "replace", counted)
    assert main(["generate", PROMPT, "--steps", "3", "--seed", "1", "--quiet", "--preview", str(shown),
                 "--out", str(out)]) == 0
    assert replaced == [shown] * 3 and out.is_file() and not list(tmp_path.glob(".*partial"))
    pipe = od.StableDiffusionPipeline.from_pretrained("default")
    pipe.set_progress_bar_config(disable=True)
    latents = pipe(PROMPT, num_inference_steps=3, generator=1, output_type="latent").images
    with Image.open(shown) as picture:
        written = np.asarray(picture.convert("RGB"), dtype=np.int16)
    assert np.abs(written - np.asarray(pipe.preview(latents), dtype=np.int16)).max() <= 1
    with Image.open(out) as final:
        assert final.size == picture.size  # the preview shows the picture being made, at its size


def test_cli_live_preview_bad_input(zoo, tmp_path, capsys):
    common = ["generate", PROMPT, "--steps", "2", "--quiet", "--out", str(tmp_path / "o.png")]
    assert main([*common, "--model", str(zoo.exported("base")), "--preview", str(tmp_path / "p.png")]) == 2
    assert "--preview decodes each step with a tiny VAE decoder" in capsys.readouterr().err
    assert main([*common, "--preview", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main([*common, "--preview", str(tmp_path / "o.png")]) == 2
    assert "is the --out file" in capsys.readouterr().err
    assert main([*common, "--preview", str(tmp_path / "p.jpg")]) == 2
    assert "written as PNG" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
