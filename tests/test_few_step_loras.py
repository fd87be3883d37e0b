"""Few-step LoRAs (issue 21): files in the layouts LCM-LoRA (kohya keys on diffusers' module names), TCD-LoRA
(diffusers' layout) and Hyper-SD (kohya keys) are published in load and give diffusers' pictures with the same
LoRA and scheduler (tiny random-weight model, LoRAs on LCM-LoRA's targets, convolutions and time projections
included); they are recognised by name or metadata, and the CLI says when a run departs from what they were made
for. DeepCache's CLI flag is tested here too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tiny_models import build_pipeline, diffusers_lora_to_kohya

import ortdiffusion as od
from ortdiffusion.cli import main
from ortdiffusion.lora.few_step import LCM, TCD, few_step_lora, few_step_metadata

TOLERANCE = 2e-3
PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="module")
def lcm_targets_lora(tmp_path_factory):
    """A random LoRA on LCM-LoRA's target modules, in diffusers' layout (a folder's pytorch_lora_weights)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from ortdiffusion.training.lcm_lora import TARGET_MODULES

    folder = tmp_path_factory.mktemp("few-step")
    pipe = build_pipeline()
    config = LoraConfig(r=4, lora_alpha=4, target_modules=TARGET_MODULES, init_lora_weights=False)
    pipe.unet.add_adapter(config)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in pipe.unet.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * (0.3 if "lora_A" in name else 0.05))
    layers = get_peft_model_state_dict(pipe.unet)
    assert any("time_emb_proj" in k for k in layers) and any("conv_shortcut" in k or "downsamplers" in k for k in layers)
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=layers, unet_lora_adapter_metadata=config.to_dict())
    return folder / "pytorch_lora_weights.safetensors"


def _published(source: Path, name: str, tmp: Path) -> Path:
    """The LoRA under a published name, in that LoRA's published layout."""
    target = tmp / name
    if name.startswith(("lcm", "Hyper")):
        return diffusers_lora_to_kohya(source, target, unet_alpha=4.0)
    shutil.copyfile(source, target)
    return target


CASES = {
    "LCM-LoRA": ("lcm-lora-sdv1-5.safetensors", "LCMScheduler", {}, {}),
    "TCD-LoRA": ("TCD-SD15-LoRA.safetensors", "TCDScheduler", {}, {"eta": 0.3}),
    "Hyper-SD": ("Hyper-SD15-4steps-lora.safetensors", "DDIMScheduler", {"timestep_spacing": "trailing"}, {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_published_few_step_loras_match_diffusers(zoo, torch, lcm_targets_lora, tmp_path, case):
    import diffusers

    name, scheduler, overrides, call = CASES[case]
    file = _published(lcm_targets_lora, name, tmp_path)
    assert few_step_lora(file) is not None
    args = dict(prompt=PROMPT, num_inference_steps=4, guidance_scale=1.0, height=32, width=32, output_type="np", **call)
    reference = diffusers.StableDiffusionPipeline.from_pretrained(zoo.diffusers("base"), safety_checker=None,
                                                                  requires_safety_checker=False)
    reference.set_progress_bar_config(disable=True)
    reference.load_lora_weights(str(lcm_targets_lora))
    reference.scheduler = getattr(diffusers, scheduler).from_config(reference.scheduler.config, **overrides)
    with torch.no_grad():
        expected = reference(**args, generator=torch.Generator().manual_seed(2)).images
    ours = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    ours.set_progress_bar_config(disable=True)
    ours.load_lora_weights(file)
    ours.scheduler = getattr(od, scheduler).from_config(ours.scheduler.config, **overrides)
    got = ours(**args, generator=2).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    ours.unload_lora_weights()
    assert float(np.abs(ours(**args, generator=2).images - got).max()) > 10 * TOLERANCE  # the LoRA did something


def test_few_step_loras_are_recognised_by_name_and_metadata(tmp_path):
    assert few_step_lora("lcm-lora-sdv1-5.safetensors") is LCM
    assert few_step_lora("models/lora/LCM_LoRA_SD15.safetensors") is LCM
    assert few_step_lora("TCD-SD15-LoRA.safetensors") is TCD
    hyper = few_step_lora("Hyper-SD15-8steps-lora.safetensors")
    assert hyper.kind == "Hyper-SD" and hyper.steps == (8, 8) and hyper.max_guidance == 1.0
    assert few_step_lora("Hyper-SD15-8steps-CFG-lora.safetensors").max_guidance == 8.0
    for other in ("pytorch_lora_weights.safetensors", "outline.safetensors", "alcmist.safetensors"):
        assert few_step_lora(other) is None
    marked = tmp_path / "my-style.safetensors"
    save_file({"x": np.zeros(2, np.float32)}, str(marked), metadata=few_step_metadata("TCD", 6))
    found = few_step_lora(marked)
    assert found.kind == "TCD-LoRA" and found.steps[1] >= 6
    assert json.loads(few_step_metadata()["ortdiffusion_few_step"]) == {"kind": "LCM", "steps": 4}
    with pytest.raises(ValueError, match="kind"):
        few_step_metadata("SDXL-Lightning")


def test_departures_name_the_scheduler_steps_and_guidance():
    assert LCM.departures("LCMScheduler", False, 4, 1.0) == []
    found = LCM.departures("DDIMScheduler", False, 50, 7.5)
    assert len(found) == 3 and "LCMScheduler" in found[0] and "50" in found[1] and "7.5" in found[2]
    hyper = few_step_lora("Hyper-SD15-4steps-lora.safetensors")
    assert hyper.departures("DDIMScheduler", True, 4, 1.0) == []
    assert "trailing" in hyper.departures("DDIMScheduler", False, 4, 1.0)[0]


def test_cli_warns_when_a_few_step_lora_runs_otherwise(zoo, lcm_targets_lora, tmp_path, capsys):
    """A few-step LoRA with 50 steps or another scheduler runs (it is allowed) and the CLI says how it departs."""
    file = _published(lcm_targets_lora, "lcm-lora-sdv1-5.safetensors", tmp_path)
    common = ["generate", PROMPT, "--model", str(zoo.exported("base")), "--lora", str(file), "--seed", "1",
              "--height", "32", "--width", "32", "--quiet"]
    assert main([*common, "--scheduler", "LCM", "--steps", "4", "--guidance", "1", "--out", str(tmp_path / "a.png")]) == 0
    assert "few-step" not in capsys.readouterr().err
    assert main([*common, "--scheduler", "LCM", "--steps", "50", "--guidance", "1", "--out", str(tmp_path / "b.png")]) == 0
    err = capsys.readouterr().err
    assert "is a few-step LoRA (LCM-LoRA)" in err and "this run takes 50" in err and "--scheduler LCM --steps 4" in err
    assert (tmp_path / "b.png").is_file()
    assert main([*common, "--steps", "4", "--out", str(tmp_path / "c.png")]) == 0
    err = capsys.readouterr().err
    assert "distilled for LCMScheduler, this run uses DDIMScheduler" in err and "guidance <= 2" in err


def test_cli_deep_cache(zoo, tmp_path, capsys):
    from ortdiffusion.png import read_parameters

    common = ["generate", PROMPT, "--steps", "4", "--seed", "1", "--quiet", "--height", "32", "--width", "32"]
    out = tmp_path / "d.png"
    assert main([*common, "--model", str(zoo.exported("deep")), "--deep-cache", "2", "--out", str(out)]) == 0
    assert read_parameters(out)["deep_cache"] == 2
    with pytest.raises(SystemExit) as exit_info:  # argparse's error: "argument --deep-cache: must be at least 1"
        main([*common, "--model", str(zoo.exported("deep")), "--deep-cache", "0", "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2 and "--deep-cache: must be at least 1" in capsys.readouterr().err
    assert main([*common, "--model", str(zoo.exported("base")), "--deep-cache", "2", "--out", str(tmp_path / "y.png")]) == 2
    assert "--deep-cache" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_export_command_deep_cache(zoo, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", "--model", str(zoo.diffusers("base")), "--output", str(out), "--deep-cache"]) == 0
    pipe = od.StableDiffusionPipeline.from_pretrained(out)
    assert "deep_features" in pipe.components.unet.outputs
    assert main(["export", "--model", str(zoo.diffusers("base")), "--output", str(tmp_path / "cn"), "--deep-cache",
                 "--controlnet", str(zoo.controlnet(0))]) == 2
    assert "deep_cache does not apply" in capsys.readouterr().err


def test_lora_merge_writes_the_export_with_the_lora_fixed(zoo, lcm_targets_lora, tmp_path, capsys):
    """`lora merge` (what quantizing a few-step model needs): the merged copy draws what the original draws with
    the LoRA loaded, on a tiny export and on the embedded model (packed parts written complete)."""
    from ortdiffusion.models import default_lora_path, default_model_path

    args = {"prompt": PROMPT, "num_inference_steps": 3, "height": 32, "width": 32, "output_type": "np", "generator": 1}
    out = tmp_path / "merged"
    assert main(["lora", "merge", "--model", str(zoo.exported("base")), "--lora", f"{lcm_targets_lora}:0.5",
                 "--output", str(out)]) == 0
    assert "unet:" in capsys.readouterr().out
    loaded = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    loaded.load_lora_weights(lcm_targets_lora)
    loaded.set_adapters(["default_0"], [0.5])
    expected = loaded(**args).images
    np.testing.assert_allclose(od.StableDiffusionPipeline.from_pretrained(out)(**args).images, expected, atol=1e-5)
    embedded = tmp_path / "embedded"
    assert main(["lora", "merge", "--lora", "outline", "--output", str(embedded)]) == 0
    assert not (embedded / "unet" / "packed_weights.json").exists()
    shipped = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    shipped.load_lora_weights(default_lora_path("outline"))
    args = {**args, "height": 64, "width": 64}
    np.testing.assert_allclose(od.StableDiffusionPipeline.from_pretrained(embedded)(**args).images,
                               shipped(**args).images, atol=1e-5)
    assert main(["lora", "merge", "--lora", "outline", "--output", str(embedded)]) == 2
    assert "--overwrite" in capsys.readouterr().err
