"""The training command runs end to end at toy scale (a few steps): VAE, then text encoder + UNet, then
sampling, and leaves a diffusers folder the exporter can read. Whether the result is any good is issue 7's
semantic tests' job, on the real run."""

from __future__ import annotations

import json

from diffusers import StableDiffusionPipeline

from ortdiffusion.training.__main__ import main


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
