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
