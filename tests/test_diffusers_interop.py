"""ortdiffusion's schedulers inside diffusers' own pipelines (issue 15): accepted where diffusers checks for
its SchedulerMixin (``from_pretrained(path, scheduler=ours)``), saved by ``pipe.save_pretrained`` as
["ortdiffusion", "<class>"] and loaded back, whether diffusers was imported before or after ortdiffusion
(which never imports it), with diffusers' own picture."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def folder(zoo):
    return zoo.diffusers("base")


def _pipe(diffusers, folder, **kwargs):
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                             **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _picture(pipe, torch):
    with torch.no_grad():
        return pipe("a red circle", num_inference_steps=6, height=32, width=32, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images


@pytest.mark.parametrize("name", ["EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler", "PNDMScheduler"])
def test_diffusers_pipelines_take_save_and_load_our_schedulers(folder, tmp_path, torch, name):
    import diffusers

    import ortdiffusion as od

    config = diffusers.PNDMScheduler.from_pretrained(folder, subfolder="scheduler").config
    theirs = _pipe(diffusers, folder, scheduler=getattr(diffusers, name).from_config(config))
    ours = _pipe(diffusers, folder, scheduler=getattr(od, name).from_config(config))
    assert isinstance(ours.scheduler, getattr(od, name))
    np.testing.assert_allclose(_picture(ours, torch), _picture(theirs, torch), atol=1e-5)
    ours.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "model_index.json").read_text())["scheduler"] == ["ortdiffusion", name]
    assert json.loads((tmp_path / "saved" / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == name
    loaded = _pipe(diffusers, tmp_path / "saved")
    assert type(loaded.scheduler) is getattr(od, name)


def test_diffusers_imported_after_ortdiffusion(folder, tmp_path):
    code = (
        "import sys\n"
        "import ortdiffusion as od\n"
        "s = od.EulerDiscreteScheduler()\n"
        "assert 'diffusers' not in sys.modules\n"
        "import diffusers\n"
        f"pipe = diffusers.StableDiffusionPipeline.from_pretrained({str(folder)!r}, scheduler=s, safety_checker=None,\n"
        "                                                     requires_safety_checker=False)\n"
        f"pipe.save_pretrained({str(tmp_path / 'saved')!r})\n"
        "print(type(pipe.scheduler).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("EulerDiscreteScheduler")
    assert (tmp_path / "saved" / "scheduler" / "scheduler_config.json").is_file()
