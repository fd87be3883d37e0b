"""A VAE in the original (LDM / CompVis) layout -- a standalone VAE file (``encoder.down.0.block.0...``) or the
``first_stage_model.`` part of a single-file checkpoint -- with diffusers' ``AutoencoderKL`` parameter names
(diffusers' ``convert_ldm_vae_checkpoint``, written out here so no diffusers is needed at run time):

    encoder.down.{i}.block.{j}            -> encoder.down_blocks.{i}.resnets.{j}
    encoder.down.{i}.downsample.conv      -> encoder.down_blocks.{i}.downsamplers.0.conv
    decoder.up.{n-1-i}.block.{j}          -> decoder.up_blocks.{i}.resnets.{j}      (LDM counts up blocks upwards)
    decoder.up.{n-1-i}.upsample.conv      -> decoder.up_blocks.{i}.upsamplers.0.conv
    {en,de}coder.mid.block_{1,2}          -> {en,de}coder.mid_block.resnets.{0,1}
    {en,de}coder.mid.attn_1.{norm,q,k,v,proj_out}
                                          -> {en,de}coder.mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
                                             (1x1 convolutions [C, C, 1, 1] become Linear weights [C, C])
    {en,de}coder.norm_out                 -> {en,de}coder.conv_norm_out
    nin_shortcut                          -> conv_shortcut
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

LDM_PREFIX = "first_stage_model."
_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def is_ldm_vae(state: Mapping[str, np.ndarray]) -> bool:
    """Whether ``state`` names its VAE parameters the LDM way (``encoder.down.`` / ``decoder.up.`` / ``.mid.``)."""
    return any(re.match(r"(first_stage_model\.)?(encoder\.down|decoder\.up|encoder\.mid|decoder\.mid)\.", k) for k in state)


def ldm_vae_to_diffusers(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The VAE parameters of ``state`` (LDM names, with or without ``first_stage_model.``) under diffusers' names.
    Keys that are not VAE parameters (a whole checkpoint's UNet and text encoder, EMA copies) are left out.
    ValueError naming a VAE key that matches no rule."""
    vae = {k.removeprefix(LDM_PREFIX): v for k, v in state.items()
           if k.startswith(LDM_PREFIX) or k.split(".", 1)[0] in ("encoder", "decoder", "quant_conv", "post_quant_conv")}
    ups = {int(m.group(1)) for k in vae if (m := re.match(r"decoder\.up\.(\d+)\.", k))}
    count = max(ups) + 1 if ups else 0
    out = {}
    for key, value in vae.items():
        name = _rename(key, count)
        array = np.asarray(value)
        if ".mid_block.attentions.0." in name and name.endswith(".weight") and array.ndim == 4:
            array = array[:, :, 0, 0]  # 1x1 convolution -> Linear
        out[name] = array
    return out


def _rename(key: str, up_blocks: int) -> str:
    name = key.replace("nin_shortcut", "conv_shortcut")
    name = re.sub(r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out.", name)
    name = re.sub(r"^encoder\.down\.(\d+)\.block\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2.", name)
    name = re.sub(r"^encoder\.down\.(\d+)\.downsample\.conv\.", r"encoder.down_blocks.\1.downsamplers.0.conv.", name)
    up = re.match(r"^decoder\.up\.(\d+)\.(block\.(\d+)|upsample\.conv)\.(.*)$", name)
    if up:
        index = up_blocks - 1 - int(up.group(1))
        inner = f"resnets.{up.group(3)}" if up.group(3) is not None else "upsamplers.0.conv"
        name = f"decoder.up_blocks.{index}.{inner}.{up.group(4)}"
    name = re.sub(r"^(encoder|decoder)\.mid\.block_([12])\.",
                  lambda m: f"{m.group(1)}.mid_block.resnets.{int(m.group(2)) - 1}.", name)
    attention = re.match(r"^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$", name)
    if attention:
        name = f"{attention.group(1)}.mid_block.attentions.0.{_ATTENTION[attention.group(2)]}.{attention.group(3)}"
    if re.search(r"\.(down|up|mid)\.|\.attn_1\.|block_\d", name):
        raise ValueError(f"VAE key {key!r} matches no rule of the LDM layout")
    return name
