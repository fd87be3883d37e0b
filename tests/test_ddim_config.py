"""Loading and saving DDIM configs the way diffusers does."""

import json

import numpy as np
import pytest
from diffusers import DDIMScheduler as DiffusersDDIM

from ortdiffusion import ConfigError, DDIMScheduler

# A stock Stable Diffusion 1.5 scheduler_config.json (written for PNDMScheduler).
SD15_SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}


def test_sd15_pndm_config_loads_like_diffusers(tmp_path):
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_SCHEDULER_CONFIG))
    ours = DDIMScheduler.from_pretrained(tmp_path, subfolder="scheduler")
    ref = DiffusersDDIM.from_config(SD15_SCHEDULER_CONFIG)
    # the same entries: DDIM's keys, the keys DDIM does not use (skip_prk_steps, kept for compatible
    # classes), _class_name, and _use_default_values (a set in diffusers: order is not part of it)
    assert set(ours.config) == set(ref.config)
    for key, value in ours.config.items():
        if key == "_use_default_values":
            assert sorted(value) == sorted(ref.config[key])
        else:
            assert ref.config[key] == value, key
    ours.set_timesteps(50)
    ref.set_timesteps(50)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())
    # without a subfolder, the pipeline folder and the config file itself work too
    assert DDIMScheduler.from_pretrained(tmp_path).config == ours.config
    assert DDIMScheduler.from_pretrained(tmp_path / "scheduler" / "scheduler_config.json").config == ours.config


def test_from_config_of_a_diffusers_scheduler_and_overrides():
    ref = DiffusersDDIM.from_config(SD15_SCHEDULER_CONFIG)
    ours = DDIMScheduler.from_config(ref.config, timestep_spacing="trailing", rescale_betas_zero_snr=True)
    assert ours.config.timestep_spacing == "trailing" and ours.config["rescale_betas_zero_snr"] is True
    assert ours.config.steps_offset == 1


def test_config_is_read_only():
    config = DDIMScheduler().config
    with pytest.raises(TypeError, match="read-only"):
        config["steps_offset"] = 3
    with pytest.raises(TypeError, match="read-only"):
        config.steps_offset = 3
    with pytest.raises(AttributeError, match="no key"):
        _ = config.not_a_key


def test_save_pretrained_round_trips_through_diffusers(tmp_path):
    ours = DDIMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", steps_offset=1)
    path = ours.save_pretrained(tmp_path)
    assert path.name == "scheduler_config.json" and not list(tmp_path.glob("*.tmp"))
    ref = DiffusersDDIM.from_pretrained(tmp_path)
    assert ref.config.prediction_type == "v_prediction" and ref.config.beta_schedule == "squaredcos_cap_v2"
    # the file holds every key, so the loaded config has no _use_default_values (as in diffusers)
    loaded = DDIMScheduler.from_pretrained(tmp_path).config
    assert "_use_default_values" not in loaded and "_use_default_values" not in ref.config
    assert loaded == {k: v for k, v in ours.config.items() if k != "_use_default_values"}


def test_unknown_keys_rejected_by_constructor_ignored_by_from_config():
    with pytest.raises(TypeError, match="skip_prk_steps"):
        DDIMScheduler(skip_prk_steps=True)
    assert DDIMScheduler.from_config({"skip_prk_steps": True}).config.num_train_timesteps == 1000


@pytest.mark.parametrize(
    "config, message",
    [
        ({"beta_schedule": "cosine"}, "beta_schedule 'cosine' is not supported; expected one of 'linear'"),
        ({"prediction_type": "noise"}, "prediction_type 'noise' is not supported"),
        ({"timestep_spacing": "even"}, "timestep_spacing 'even' is not supported"),
        ({"steps_offset": "1"}, "'steps_offset' must be an integer"),
        ({"clip_sample": "yes"}, "'clip_sample' must be true or false"),
        ({"beta_start": None}, "'beta_start' must be a number"),
        ({"num_train_timesteps": 0}, "'num_train_timesteps' must be at least 1"),
        ({"trained_betas": [0.1, 0.2]}, "'trained_betas' has 2 values"),
        ({"trained_betas": ["a"]}, "'trained_betas' must be a list of numbers"),
        ({"dynamic_thresholding_ratio": 1.5}, "'dynamic_thresholding_ratio' must be in"),
    ],
)
def test_invalid_values_raise_config_error(config, message):
    with pytest.raises(ConfigError, match=message):
        DDIMScheduler.from_config(config)
    assert issubclass(ConfigError, ValueError)


def test_malformed_and_missing_files_raise_clear_errors(tmp_path):
    bad = tmp_path / "scheduler_config.json"
    bad.write_text('{"beta_start": 0.1,')
    with pytest.raises(ConfigError, match=r"scheduler_config\.json: not valid JSON"):
        DDIMScheduler.from_pretrained(tmp_path)
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        DDIMScheduler.from_pretrained(bad)
    with pytest.raises(FileNotFoundError, match="no scheduler_config.json"):
        DDIMScheduler.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(TypeError, match="config mapping"):
        DDIMScheduler.from_config(str(tmp_path))
