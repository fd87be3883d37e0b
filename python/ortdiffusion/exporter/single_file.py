"""Single-file Stable Diffusion 1.x checkpoints (one .safetensors in the original LDM layout:
``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``) as a diffusers folder,
offline: the kind is told from the tensors (SD 1.x text-to-image, 4 input channels; inpainting, 9; SD 2.x, SDXL
and others refused by what gives them away), the component configs are derived from the tensor shapes where those
tell (channels, layers, latent channels, cross-attention width) with SD 1.5's values where they do not (attention
heads, group norms, sample size), or read from ``config_dir`` (a diffusers folder of configs), and the keys are
converted by diffusers' own ``convert_ldm_*`` functions. Nothing is fetched; the tokenizer and the scheduler
config are the ones shipped in the package (SD 1.5's)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion.checkpoints.weights_file import read_weights_file

logger = logging.getLogger(__name__)

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."
EMA_PREFIX = "model_ema."
EMA_THRESHOLD = 100  # diffusers' convert_ldm_unet_checkpoint counts a file as EMA-holding above 100 such tensors
# SD 1.5's values for what shapes do not tell (its unet/vae/text_encoder config.json)
SD15_HEADS, SD15_GROUPS, SD15_SAMPLE_SIZE, SD15_VAE_SCALING = 8, 32, 64, 0.18215
SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None, "clip_sample": False, "prediction_type": "epsilon", "timestep_spacing": "leading",
}


def checkpoint_kind(tensors: dict[str, np.ndarray], path: Path) -> str:
    """"text2img" or "inpaint"; ValueError saying what the file is when it is not an SD 1.x checkpoint."""
    if any(k.startswith("conditioner.embedders.") for k in tensors) or f"{UNET_PREFIX}label_emb.0.0.weight" in tensors:
        raise ValueError(f"{path} is an SDXL checkpoint; ortdiffusion exports SD 1.x")
    if not any(k.startswith(UNET_PREFIX) for k in tensors):
        hint = " (a VAE file: use it with --vae)" if any(k.startswith(("encoder.", "decoder.")) for k in tensors) else ""
        raise ValueError(f"{path} is not a Stable Diffusion checkpoint: it has no {UNET_PREFIX}* tensors{hint}")
    context = [v.shape[1] for k, v in tensors.items() if re.search(r"\.attn2\.to_k\.weight$", k) and k.startswith(UNET_PREFIX)]
    if any(k.startswith("cond_stage_model.model.") for k in tensors) or (context and context[0] == 1024):
        raise ValueError(f"{path} is an SD 2.x checkpoint (1024-wide OpenCLIP text encoder); ortdiffusion exports SD 1.x")
    missing = [p for p in (VAE_PREFIX, TEXT_PREFIX) if not any(k.startswith(p) for k in tensors)]
    if missing:
        raise ValueError(f"{path} lacks its {' and '.join(m + '*' for m in missing)} tensors (a UNet-only file?)")
    channels = tensors[f"{UNET_PREFIX}input_blocks.0.0.weight"].shape[1]
    if channels not in (4, 9):
        raise ValueError(f"{path}: a UNet with {channels} input channels is neither SD 1.x text-to-image (4) nor inpainting (9)")
    return "inpaint" if channels == 9 else "text2img"


def _count(tensors: dict[str, Any], pattern: str) -> int:
    found = {int(m.group(1)) for k in tensors if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def down_path_config(u: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the LDM down path's tensors (``input_blocks.*``, no prefix; a UNet's or a ControlNet's) tell of diffusers'
    config: in_channels, block_out_channels, layers_per_block, down_block_types, cross_attention_dim,
    use_linear_projection, transformer_layers_per_block."""
    levels: list[dict[str, Any]] = [{"channels": None, "attention": False, "layers": 0}]
    for i in range(1, _count(u, r"input_blocks\.(\d+)\.")):
        if f"input_blocks.{i}.0.op.weight" in u:  # a downsampler closes the level
            levels.append({"channels": None, "attention": False, "layers": 0})
            continue
        level = levels[-1]
        level["channels"] = int(u[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0])
        level["attention"] = level["attention"] or f"input_blocks.{i}.1.proj_in.weight" in u
        level["layers"] += 1
    layers = {level["layers"] for level in levels}
    if len(layers) != 1:
        raise ValueError(f"the UNet's levels have different numbers of layers {sorted(layers)}; not an SD 1.x UNet")
    attention_keys = [k for k in u if k.endswith(".transformer_blocks.0.attn2.to_k.weight")]
    proj_in = next((u[k] for k in u if k.endswith(".proj_in.weight")), None)
    return {
        "in_channels": int(u["input_blocks.0.0.weight"].shape[1]), "block_out_channels": [lv["channels"] for lv in levels],
        "layers_per_block": layers.pop(),
        "down_block_types": ["CrossAttnDownBlock2D" if lv["attention"] else "DownBlock2D" for lv in levels],
        "cross_attention_dim": int(u[attention_keys[0]].shape[1]) if attention_keys else 768,
        "use_linear_projection": proj_in is not None and proj_in.ndim == 2,
        "transformer_layers_per_block": max(1, _count(u, r"input_blocks\.\d+\.1\.transformer_blocks\.(\d+)\.")),
    }


def unet_config(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """diffusers' UNet2DConditionModel config from the LDM UNet's tensor shapes."""
    u = {k[len(UNET_PREFIX):]: v for k, v in tensors.items() if k.startswith(UNET_PREFIX)}
    down = down_path_config(u)
    return {
        "_class_name": "UNet2DConditionModel", **down, "out_channels": int(u["out.2.weight"].shape[0]),
        "up_block_types": [kind.replace("Down", "Up") for kind in reversed(down["down_block_types"])],
        "attention_head_dim": SD15_HEADS, "norm_num_groups": SD15_GROUPS, "sample_size": SD15_SAMPLE_SIZE,
    }


def vae_config(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """diffusers' AutoencoderKL config from the LDM VAE's tensor shapes."""
    v = {k[len(VAE_PREFIX):]: t for k, t in tensors.items() if k.startswith(VAE_PREFIX)}
    levels = _count(v, r"encoder\.down\.(\d+)\.")
    return {
        "_class_name": "AutoencoderKL", "in_channels": int(v["encoder.conv_in.weight"].shape[1]),
        "out_channels": int(v["decoder.conv_out.weight"].shape[0]),
        "latent_channels": int(v["quant_conv.weight"].shape[0]) // 2,
        "block_out_channels": [int(v[f"encoder.down.{i}.block.0.conv1.weight"].shape[0]) for i in range(levels)],
        "layers_per_block": _count(v, r"encoder\.down\.0\.block\.(\d+)\."),
        "down_block_types": ["DownEncoderBlock2D"] * levels, "up_block_types": ["UpDecoderBlock2D"] * levels,
        "norm_num_groups": SD15_GROUPS, "sample_size": SD15_SAMPLE_SIZE * 8, "scaling_factor": SD15_VAE_SCALING,
    }


def text_encoder_config(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """transformers' CLIPTextConfig (as a dict) from the text encoder's tensor shapes."""
    t = {k[len(TEXT_PREFIX):]: v for k, v in tensors.items() if k.startswith(TEXT_PREFIX)}
    tokens = t["text_model.embeddings.token_embedding.weight"]
    width = int(tokens.shape[1])
    return {
        "vocab_size": int(tokens.shape[0]), "hidden_size": width,
        "intermediate_size": int(t["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        "num_hidden_layers": _count(t, r"text_model\.encoder\.layers\.(\d+)\."),
        "num_attention_heads": max(width // 64, 1),
        "max_position_embeddings": int(t["text_model.embeddings.position_embedding.weight"].shape[0]),
        "hidden_act": "quick_gelu", "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1,
        "projection_dim": width,
    }


def _read_config(config_dir: Path | None, part: str, name: str = "config.json") -> dict[str, Any] | None:
    if config_dir is None:
        return None
    path = config_dir / part / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def ema_tensor_count(tensors: dict[str, Any]) -> int:
    """How many tensors hold EMA weights (``model_ema.*``, LDM's flattened names)."""
    return sum(k.startswith(EMA_PREFIX) for k in tensors)


def single_file_to_diffusers(path: str | Path, folder: str | Path, config_dir: str | Path | None = None,
                             extract_ema: bool = False) -> str:
    """Write the diffusers folder of the single-file checkpoint ``path`` into ``folder`` (which must not exist);
    returns its kind ("text2img" or "inpaint"). ``config_dir``'s unet/, vae/, text_encoder/ and scheduler/ configs
    replace the derived ones where present. A checkpoint holding both weights and their EMA gives its UNet's
    non-EMA weights, as diffusers' ``from_single_file`` does; ``extract_ema`` takes the EMA ones (diffusers'
    ``extract_ema=True``; ValueError when the file has none)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )
    from transformers import CLIPTextConfig, CLIPTextModel


    path, folder = Path(path), Path(folder)
    tensors = read_weights_file(path, "checkpoint")
    config_dir = Path(config_dir) if config_dir is not None else None
    kind = checkpoint_kind(tensors, path)
    ema = ema_tensor_count(tensors)
    if extract_ema and ema <= EMA_THRESHOLD:
        raise ValueError(f"{path} holds no EMA weights ({ema} {EMA_PREFIX}* tensors); export it without extract_ema")
    if ema > EMA_THRESHOLD:
        logger.info("%s also holds EMA weights: exporting the %s ones", path, "EMA" if extract_ema else "non-EMA")
    checkpoint = torch_views(tensors)
    folder.mkdir(parents=True)

    try:
        with torch.device("meta"):  # no weights allocated: the file's tensors become the parameters below
            unet = UNet2DConditionModel.from_config(_read_config(config_dir, "unet") or unet_config(tensors))
            vae = AutoencoderKL.from_config(_read_config(config_dir, "vae") or vae_config(tensors))
        unet_state = convert_ldm_unet_checkpoint(checkpoint, dict(unet.config), extract_ema=extract_ema)
        vae_state = convert_ldm_vae_checkpoint(checkpoint, dict(vae.config))
    except KeyError as e:  # diffusers' converters index the tensors they need
        raise ValueError(f"{path}: the checkpoint lacks the tensor {e.args[0]!r} (a truncated or different model?)") from None
    load_checked_state(unet, unet_state, path, "UNet", assign=True)
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    del unet, unet_state
    load_checked_state(vae, vae_state, path, "VAE", assign=True)
    vae.save_pretrained(folder / "vae", safe_serialization=True)
    text_config = _read_config(config_dir, "text_encoder") or text_encoder_config(tensors)
    text_encoder = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in text_config.items() if not k.startswith("_")}))
    text_state = convert_ldm_clip_checkpoint(checkpoint)
    if not hasattr(text_encoder, "text_model"):  # transformers 5 keeps the modules at the top level
        text_state = {k.removeprefix("text_model."): v for k, v in text_state.items()}
    load_checked_state(text_encoder, text_state, path, "text encoder")
    text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)

    with resources.as_file(resources.files("ortdiffusion") / "data" / "clip_tokenizer") as tokenizer_files:
        shutil.copytree(tokenizer_files, folder / "tokenizer")  # the real CLIP vocabulary SD 1.x uses
    (folder / "scheduler").mkdir()
    scheduler = _read_config(config_dir, "scheduler", "scheduler_config.json") or SD15_SCHEDULER
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler, indent=2), encoding="utf-8")
    index = {"_class_name": "StableDiffusionInpaintPipeline" if kind == "inpaint" else "StableDiffusionPipeline",
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", scheduler["_class_name"]]}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return kind


def torch_views(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """The file's arrays as torch tensors sharing their memory (the memory-mapped file: nothing is copied; they are
    only read, so torch's warning about read-only arrays does not apply)."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return {k: torch.from_numpy(v) for k, v in tensors.items()}


def load_checked_state(model: Any, state: dict[str, Any], path: Path, what: str,
                       remedy: str = "pass --config DIR with the model's diffusers configs", assign: bool = False) -> None:
    """Load ``state`` into ``model``, every parameter accounted for (ValueError naming what is missing or extra and,
    for tensors that do not fit the derived config, the ``remedy``). ``assign``: the tensors become the parameters
    (a model built on the meta device), cast to float32 where they are stored otherwise, as a copy into float32
    parameters would."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: {list(state[k].shape)} vs {list(expected[k].shape)}" for k in expected
             if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing and not unexpected and not wrong:
        raise ValueError(f"{path}: the checkpoint lacks {len(missing)} of the {what}'s tensors (diffusers' names: "
                         f"{missing[:3]}); a truncated or pruned file?")
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: the {what} does not match the config derived from it ({len(missing)} missing, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}; {len(wrong)} of another shape, e.g. {wrong[:2]}); "
            + remedy
        )
    if assign:
        state = {k: v.float() if v.is_floating_point() and v.dtype != expected[k].dtype else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=assign)
