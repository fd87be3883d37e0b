"""``--scheduler`` and ``ortdiffusion schedulers`` (issue 15): diffusers class names and AUTOMATIC1111 names,
the PNG's ``Sampler:`` as AUTOMATIC1111 writes it, the JSON chunk with the class and its config, and a
clear refusal naming the valid names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ortdiffusion", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


@pytest.mark.parametrize(("name", "sampler", "class_name"), [
    ("Euler a", "Euler a", "EulerAncestralDiscreteScheduler"),
    ("euler karras", "Euler Karras", "EulerDiscreteScheduler"),
    ("DPM++ 2M Karras", "DPM++ 2M Karras", "DPMSolverMultistepScheduler"),
    ("DPM++ 2M SDE", "DPM++ 2M SDE", "DPMSolverMultistepScheduler"),
    ("UniPC", "UniPC", "UniPCMultistepScheduler"),
    ("LCM", "LCM", "LCMScheduler"),
    ("Heun", "Heun", "HeunDiscreteScheduler"),
    ("DDPM", "DDPM", "DDPMScheduler"),
    ("PLMS", "PLMS", "PNDMScheduler"),
    ("PNDMScheduler", "PNDMScheduler", "PNDMScheduler"),  # the model's config: PRK steps too, no A1111 name
])
def test_scheduler_names_run_and_are_recorded(tmp_path, name, sampler, class_name):
    result = _cli("generate", "a red circle", "--scheduler", name, "--steps", "4", "--seed", "3", "--quiet",
                  "--out", "p.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "p.png") as image:
        text = dict(image.text)
    assert f"Sampler: {sampler}," in text["parameters"]
    params = json.loads(text["ortdiffusion"])
    assert params["scheduler_class"] == class_name and params["scheduler"] == sampler
    assert params["scheduler_config"]["num_train_timesteps"] == 1000
    if sampler == "Euler Karras":
        assert params["scheduler_config"]["use_karras_sigmas"] is True


def test_the_named_scheduler_changes_the_picture(tmp_path):
    for name in ("DDIM", "Euler a"):
        result = _cli("generate", "a red circle", "--scheduler", name, "--steps", "4", "--seed", "3", "--quiet",
                      "--out", f"{name}.png", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "DDIM.png") as a, Image.open(tmp_path / "Euler a.png") as b:
        assert a.tobytes() != b.tobytes()


@pytest.mark.parametrize(("name", "message"), [
    ("Eulr", "unknown scheduler 'Eulr'; valid names: DDIMScheduler, PNDMScheduler"),
])
def test_unknown_names_are_refused_with_the_valid_ones(tmp_path, name, message):
    result = _cli("generate", "a red circle", "--scheduler", name, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert "Euler a" in result.stderr


def test_schedulers_command_lists_the_names(tmp_path):
    result = _cli("schedulers", cwd=tmp_path)
    assert result.returncode == 0
    assert "EulerAncestralDiscreteScheduler" in result.stdout and "Euler a" in result.stdout
    assert "(not implemented yet)" not in result.stdout
    everything = _cli("schedulers", "--all", cwd=tmp_path)
    # every AUTOMATIC1111 name of diffusers' table has its class now
    assert "DPM++ 2M Karras" in everything.stdout and "DPM2 a Karras" in everything.stdout
    assert "(not implemented yet)" not in everything.stdout
