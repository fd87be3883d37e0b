"""The tests' own diffusers -> original (LDM) key map, to write checkpoints in the layout people download from
tiny diffusers models built here (the reverse of what ortdiffusion reads; written independently of it)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def diffusers_vae_to_ldm(state: Mapping[str, np.ndarray], prefix: str = "") -> dict[str, np.ndarray]:
    """An AutoencoderKL state dict (numpy) under LDM names, each key preceded by ``prefix``
    (``"first_stage_model."`` inside a whole checkpoint)."""
    ups = {int(m.group(1)) for k in state if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", k))}
    count = max(ups) + 1
    out = {}
    for key, value in state.items():
        name = key.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        name = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2.", name)
        name = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.", r"encoder.down.\1.downsample.conv.", name)
        name = re.sub(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.",
                      lambda m: f"decoder.up.{count - 1 - int(m.group(1))}.block.{m.group(2)}.", name)
        name = re.sub(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.",
                      lambda m: f"decoder.up.{count - 1 - int(m.group(1))}.upsample.conv.", name)
        name = re.sub(r"^(encoder|decoder)\.mid_block\.resnets\.(\d)\.", lambda m: f"{m.group(1)}.mid.block_{int(m.group(2)) + 1}.", name)
        attention = re.match(r"^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$", name)
        array = np.asarray(value)
        if attention:
            name = f"{attention.group(1)}.mid.attn_1.{_ATTENTION[attention.group(2)]}.{attention.group(3)}"
            if attention.group(2) != "group_norm" and attention.group(3) == "weight":
                array = array[:, :, None, None]  # LDM's attention projections are 1x1 convolutions
        out[prefix + name] = np.ascontiguousarray(array)
    return out


_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
           ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
_UNET_TOP = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
             "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2."}


def diffusers_unet_to_ldm(state: Mapping[str, np.ndarray], config: Mapping, prefix: str = "model.diffusion_model.") -> dict[str, np.ndarray]:
    """A UNet2DConditionModel state dict under the LDM UNet's names (input_blocks / middle_block / output_blocks,
    each level ``layers_per_block`` layers and a sampler)."""
    layers, levels = config["layers_per_block"], len(config["block_out_channels"])
    up_attention = ["CrossAttn" in kind for kind in config["up_block_types"]]
    blocks: list[tuple[str, str, bool]] = []  # (diffusers prefix, LDM prefix, is a resnet)
    for i in range(levels):
        for j in range(layers):
            blocks.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{i * (layers + 1) + j + 1}.0.", True))
            blocks.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{i * (layers + 1) + j + 1}.1.", False))
        for j in range(layers + 1):
            blocks.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{i * (layers + 1) + j}.0.", True))
            blocks.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{i * (layers + 1) + j}.1.", False))
        if i < levels - 1:
            blocks.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (layers + 1)}.0.op.", False))
            upsampler = f"output_blocks.{i * (layers + 1) + layers}.{2 if up_attention[i] else 1}."
            blocks.append((f"up_blocks.{i}.upsamplers.0.", upsampler, False))
    blocks += [("mid_block.attentions.0.", "middle_block.1.", False), ("mid_block.resnets.0.", "middle_block.0.", True),
               ("mid_block.resnets.1.", "middle_block.2.", True)]
    out = {}
    for key, value in state.items():
        name = next((ldm + key[len(hf):] for hf, ldm in _UNET_TOP.items() if key.startswith(hf)), None)
        if name is None:
            hf, ldm, resnet = max(((h, s, r) for h, s, r in blocks if key.startswith(h)), key=lambda b: len(b[0]))
            rest = key[len(hf):]
            if resnet:
                for diffusers_name, ldm_name in _RESNET:
                    if rest.startswith(diffusers_name + "."):
                        rest = ldm_name + rest[len(diffusers_name):]
            name = ldm + rest
        out[prefix + name] = np.ascontiguousarray(np.asarray(value))
    return out


def diffusers_text_encoder_to_ldm(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A CLIPTextModel state dict under the single-file names (``cond_stage_model.transformer.text_model.*``)."""
    out = {}
    for key, value in state.items():
        name = key if key.startswith("text_model.") else "text_model." + key
        out["cond_stage_model.transformer." + name] = np.ascontiguousarray(np.asarray(value))
    return out


def diffusers_controlnet_to_ldm(state: Mapping[str, np.ndarray], config: Mapping, prefix: str = "control_model.") -> dict[str, np.ndarray]:
    """A ControlNetModel state dict under the original ControlNet's names: the UNet's down path and middle block,
    ``input_hint_block.{0, 2, ...}`` (conv_in, the conditioning embedding's convolutions, conv_out), ``zero_convs.{i}.0``
    and ``middle_block_out.0``."""
    hint_blocks = {int(m.group(1)) for k in state if (m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.", k))}
    conv_out = 2 * (len(hint_blocks) + 1)
    out, rest = {}, {}
    for key, value in state.items():
        array = np.ascontiguousarray(np.asarray(value))
        if m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.(weight|bias)$", key):
            out[f"{prefix}input_hint_block.{2 * (int(m.group(1)) + 1)}.{m.group(2)}"] = array
        elif m := re.match(r"controlnet_cond_embedding\.conv_(in|out)\.(weight|bias)$", key):
            out[f"{prefix}input_hint_block.{0 if m.group(1) == 'in' else conv_out}.{m.group(2)}"] = array
        elif m := re.match(r"controlnet_down_blocks\.(\d+)\.(weight|bias)$", key):
            out[f"{prefix}zero_convs.{m.group(1)}.0.{m.group(2)}"] = array
        elif m := re.match(r"controlnet_mid_block\.(weight|bias)$", key):
            out[f"{prefix}middle_block_out.0.{m.group(1)}"] = array
        else:
            rest[key] = array
    unet_like = {**config, "up_block_types": [k.replace("Down", "Up") for k in reversed(config["down_block_types"])]}
    return {**out, **diffusers_unet_to_ldm(rest, unet_like, prefix)}
