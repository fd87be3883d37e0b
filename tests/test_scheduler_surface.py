"""The diffusers surface every native scheduler shares (issue 15): configs with ``_class_name`` and
``_use_default_values`` and diffusers' from_config rules, register_to_config, save/load through diffusers,
compatibles, config attributes with diffusers' FutureWarning, outputs, and numpy callers that never load
torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ortdiffusion as od

CLASSES = [od.DDIMScheduler, od.PNDMScheduler, od.EulerDiscreteScheduler, od.EulerAncestralDiscreteScheduler]
SD15 = {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
        "trained_betas": None, "clip_sample": False}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_config_follows_diffusers_from_config(cls):
    import diffusers

    ref = getattr(diffusers, cls.__name__).from_config(SD15)
    ours = cls.from_config(SD15)
    assert set(ours.config) == set(ref.config), set(ours.config) ^ set(ref.config)
    for key, value in ref.config.items():
        if key == "_use_default_values":
            assert sorted(ours.config[key]) == sorted(value)
        elif key != "trained_betas":
            assert ours.config[key] == value, key
    assert ours.config["_class_name"] == cls.__name__


@pytest.mark.parametrize("target", ["EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "PNDMScheduler"])
def test_defaults_carry_over_as_in_diffusers(target):
    """A key the source only defaulted takes the target's own default (_use_default_values)."""
    import diffusers

    for source in (od.DDIMScheduler.from_config(SD15), diffusers.DDIMScheduler.from_config(SD15)):
        ours = getattr(od, target).from_config(source.config)
        ref = getattr(diffusers, target).from_config(source.config)
        assert ours.config["timestep_spacing"] == ref.config["timestep_spacing"]
        ours.set_timesteps(10)
        ref.set_timesteps(10)
        np.testing.assert_array_equal(np.asarray(ours.timesteps), ref.timesteps.numpy())


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_save_and_load_through_diffusers(tmp_path, cls):
    import diffusers

    ours = cls.from_config(SD15, timestep_spacing="trailing")
    path = ours.save_config(tmp_path / "a")
    assert path.name == "scheduler_config.json"
    ref = getattr(diffusers, cls.__name__).from_pretrained(tmp_path / "a")
    assert ref.config.timestep_spacing == "trailing"
    ref.save_pretrained(tmp_path / "b")
    back = cls.from_pretrained(tmp_path / "b", cache_dir="ignored")  # hub keywords are accepted and ignored
    assert {k: v for k, v in back.config.items() if not k.startswith("_")} == {
        k: v for k, v in ours.config.items() if not k.startswith("_") and k in back.config}
    loaded, unused = cls.from_pretrained(tmp_path / "b", return_unused_kwargs=True, not_a_key=1)
    assert type(loaded) is cls
    assert unused["not_a_key"] == 1
    with pytest.raises(AssertionError, match="should be a directory"):
        ours.save_config(path)


def test_compatibles_register_to_config_and_config_attributes():
    s = od.EulerDiscreteScheduler.from_config(SD15)
    assert od.DDIMScheduler in s.compatibles and od.PNDMScheduler in s.compatibles
    s.register_to_config(my_note=5)
    assert s.config["my_note"] == 5
    with pytest.warns(FutureWarning, match="Accessing config attribute `my_note` directly"):
        assert s.my_note == 5
    with pytest.raises(AttributeError, match="'EulerDiscreteScheduler' object has no attribute 'nothing'"):
        s.nothing  # noqa: B018
    with pytest.raises(ValueError, match="cannot change EulerDiscreteScheduler's own keys \\['beta_end'\\]"):
        s.register_to_config(beta_end=0.5)
    with pytest.raises(TypeError, match="read-only"):
        s.config["beta_end"] = 0.5
    with pytest.raises(TypeError, match="from_config expects a config mapping"):
        od.DDIMScheduler.from_config("path/to/folder")


def test_numpy_callers_never_load_torch():
    code = (
        "import sys, numpy as np, ortdiffusion as od\n"
        "for cls in (od.DDIMScheduler, od.PNDMScheduler, od.EulerDiscreteScheduler, od.EulerAncestralDiscreteScheduler):\n"
        "    s = cls(); s.set_timesteps(4); x = np.ones((1, 4, 8, 8), np.float32)\n"
        "    assert isinstance(s.timesteps, np.ndarray)\n"
        "    for t in s.timesteps:\n"
        "        x = s.step(s.scale_model_input(x, t) * np.float32(0.1), t, x).prev_sample\n"
        "    assert isinstance(x, np.ndarray) and x.dtype == np.float32\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'torch or diffusers was loaded'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_torch_callers_get_tensors(torch):
    s = od.EulerDiscreteScheduler.from_config(SD15)
    s.set_timesteps(4)
    assert isinstance(s.timesteps, torch.Tensor) and isinstance(s.sigmas, torch.Tensor)
    assert isinstance(s.init_noise_sigma, torch.Tensor)
