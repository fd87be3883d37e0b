"""Swapping the VAE without re-export (``load_vae_weights``, ``generate --vae``): a VAE file in diffusers' or the
LDM layout (written by the tests' own key map) gives the weights and pictures of a re-export with that VAE;
VAE files that do not fit, and pickles, are refused."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ldm_layout import diffusers_vae_to_ldm

import ortdiffusion as od
from ortdiffusion import initializers
from ortdiffusion.model_folder import MODEL_FILE

ARGS = {"num_inference_steps": 4, "height": 32, "width": 32, "output_type": "np"}


@pytest.fixture(scope="module")
def other_vae(zoo, tmp_path_factory, torch):
    """The tiny model's VAE with every weight changed, as a diffusers folder and as LDM files, and the tiny model
    re-exported with it."""
    import diffusers
    from safetensors.numpy import save_file

    from ortdiffusion.exporter import export_pipeline

    folder = tmp_path_factory.mktemp("vae-swap")
    shutil.copytree(zoo.diffusers("base"), folder / "diffusers")
    vae = diffusers.AutoencoderKL.from_pretrained(folder / "diffusers" / "vae")
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for parameter in vae.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    vae.save_pretrained(folder / "diffusers" / "vae", safe_serialization=True)
    state = {k: v.numpy() for k, v in vae.state_dict().items()}
    save_file(diffusers_vae_to_ldm(state), str(folder / "vae-ldm.safetensors"))
    save_file(diffusers_vae_to_ldm(state, "first_stage_model."), str(folder / "checkpoint-vae-part.safetensors"))
    export_pipeline(folder / "diffusers", folder / "reexported")
    return folder


@pytest.mark.parametrize("source", ["diffusers/vae", "vae-ldm.safetensors", "checkpoint-vae-part.safetensors"])
def test_swapped_vae_equals_a_reexport_with_it(zoo, other_vae, source):
    from test_pipeline_parity import scene

    reexported = other_vae / "reexported"
    for pipeline_class, extra in ((od.StableDiffusionPipeline, {}),
                                  (od.StableDiffusionImg2ImgPipeline, {"image": scene(32, 32), "strength": 0.7})):
        swapped = pipeline_class.from_pretrained(zoo.exported("base"))
        original = swapped("a red circle", generator=1, **ARGS, **extra).images
        swapped.load_vae_weights(other_vae / source)
        expected = pipeline_class.from_pretrained(reexported)("a red circle", generator=1, **ARGS, **extra).images
        got = swapped("a red circle", generator=1, **ARGS, **extra).images
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert np.abs(got - original).max() > 0.05  # the VAE mattered
    overrides = swapped.__dict__["_vae_overrides"]
    for part, weights in overrides.items():
        exported = initializers.load(reexported / part / MODEL_FILE)
        for name, value in weights.items():
            np.testing.assert_array_equal(value, exported[name], err_msg=name)


def test_cli_vae_option(zoo, other_vae, tmp_path):
    from PIL import Image

    from ortdiffusion.cli import main

    common = ["generate", "a red circle", "--model", str(zoo.exported("base")), "--steps", "3", "--seed", "1",
              "--height", "32", "--width", "32", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "a.png")]) == 0
    assert main([*common, "--vae", str(other_vae / "vae-ldm.safetensors"), "--out", str(tmp_path / "b.png")]) == 0
    a, b = (np.asarray(Image.open(tmp_path / name), np.int16) for name in ("a.png", "b.png"))
    assert np.abs(a - b).max() > 10


def test_vae_files_that_do_not_fit_are_refused(zoo, tmp_path, other_vae):
    from safetensors.numpy import save_file

    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    (tmp_path / "vae.ckpt").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match=r"is a pickle \(\.ckpt\)"):
        pipe.load_vae_weights(tmp_path / "vae.ckpt")
    state = initializers.load(other_vae / "reexported" / "vae_decoder" / MODEL_FILE)
    decoder_only = {k[len("vae."):]: np.asarray(v) for k, v in state.items() if k.startswith("vae.")}
    save_file(decoder_only, str(tmp_path / "decoder-only.safetensors"))
    with pytest.raises(ValueError, match=r"does not fit this model's VAE.*missing \(e.g. \['encoder\."):
        pipe.load_vae_weights(tmp_path / "decoder-only.safetensors")
    wide = {k: np.zeros((*v.shape[:-1], v.shape[-1] + 1), np.float32) if k.endswith("conv_in.weight") else v
            for k, v in decoder_only.items()}
    save_file(wide, str(tmp_path / "wide.safetensors"))
    with pytest.raises(ValueError, match="of another shape"):
        pipe.load_vae_weights(tmp_path / "wide.safetensors")
    with pytest.raises(ValueError, match="not named after diffusers' parameters"):
        from test_optimum_folder import FIXTURE

        od.StableDiffusionPipeline.from_pretrained(FIXTURE).load_vae_weights(other_vae / "vae-ldm.safetensors")


def test_export_bakes_a_vae_file_in(zoo, other_vae, tmp_path):
    from ortdiffusion.cli import main

    assert main(["export", "--model", str(zoo.diffusers("base")), "--output", str(tmp_path / "baked"),
                 "--vae", str(other_vae / "vae-ldm.safetensors")]) == 0
    for part in ("vae_decoder", "vae_encoder"):
        baked, reexported = (initializers.load(f / part / MODEL_FILE) for f in (tmp_path / "baked", other_vae / "reexported"))
        assert set(baked) == set(reexported)
        for name in reexported:
            np.testing.assert_array_equal(np.asarray(baked[name]), np.asarray(reexported[name]), err_msg=name)
