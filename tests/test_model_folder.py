"""Where each part of an exported folder lives: its own subfolder, or another folder's through
model_index.json's ``_ortdiffusion_parts_from`` (how the shipped variants share the default model's parts)."""

from __future__ import annotations

import json

import pytest

from ortdiffusion.model_folder import SHARED_PARTS_KEY, part_folder, read_config


def _make(tmp_path):
    base, variant = tmp_path / "default", tmp_path / "variant"
    for part in ("unet", "vae_decoder", "text_encoder"):
        (base / part).mkdir(parents=True)
    (variant / "unet").mkdir(parents=True)
    (variant / "model_index.json").write_text(json.dumps({SHARED_PARTS_KEY: "../default"}))
    return base, variant


def test_own_part_wins_and_missing_parts_come_from_the_named_folder(tmp_path):
    base, variant = _make(tmp_path)
    assert part_folder(variant, "unet") == variant / "unet"
    assert part_folder(variant, "vae_decoder") == base.resolve() / "vae_decoder"
    assert part_folder(base, "vae_decoder") == base / "vae_decoder"


def test_a_part_nobody_has_stays_the_folders_own_path(tmp_path):
    """So the caller's 'missing file' message names the folder the user gave."""
    _, variant = _make(tmp_path)
    assert part_folder(variant, "vae_encoder") == variant / "vae_encoder"
    assert part_folder(tmp_path / "nowhere", "unet") == tmp_path / "nowhere" / "unet"


def test_read_config_names_a_broken_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        read_config(tmp_path)
    assert read_config(tmp_path / "absent") == {}


def test_shipped_variants_share_the_default_models_parts():
    """Every shipped part is stored packed (packed_weights.py), so each resolves to its assembled copy in the
    cache; the variants' text encoder and VAE resolve to the very copy the default model's do."""
    from ortdiffusion.cache_dir import default_cache_dir
    from ortdiffusion.models import default_model_path

    default = default_model_path()
    assembled = default_cache_dir() / "assembled"
    for task in ("inpaint", "controlnet"):
        variant = default_model_path(task)
        unet = part_folder(variant, "unet")
        assert unet.name == "unet" and unet.parent.parent == assembled and unet != part_folder(default, "unet")
        assert not (variant / "text_encoder").exists() and not (variant / "vae_decoder").exists()
        for part in ("text_encoder", "vae_decoder"):
            assert part_folder(variant, part) == part_folder(default, part)
            assert part_folder(variant, part).parent.parent == assembled


def test_default_model_and_lora_lookups_name_what_exists():
    from ortdiffusion.models import SHIPPED_LORAS, default_lora_path, default_model_path

    assert (default_model_path("inpaint") / "unet" / "model.onnx").is_file()
    assert all(default_lora_path(name).stat().st_size > 0 for name in SHIPPED_LORAS)
    with pytest.raises(ValueError, match="tasks: text2img, inpaint, controlnet"):
        default_model_path("depth")
    with pytest.raises(ValueError, match="shipped: outline, complement"):
        default_lora_path("sepia")


@pytest.mark.parametrize("source", ["/tmp", "../../far/away", "../x/y"])
def test_parts_from_must_name_a_folder_beside_this_one(tmp_path, source):
    folder = tmp_path / "models" / "variant"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({SHARED_PARTS_KEY: source}))
    with pytest.raises(ValueError, match="must name a model folder beside this one"):
        part_folder(folder, "text_encoder")
