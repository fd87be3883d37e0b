"""A ControlNet in the original layout people download (``control_model.*`` or the same names without the prefix)
with diffusers' ``ControlNetModel`` parameter names (diffusers' ``convert_controlnet_checkpoint``, written out here
so no diffusers is needed at run time). L = layers per block, read from where the first downsampler sits:

    time_embed.{0,2}                 -> time_embedding.linear_{1,2}
    input_blocks.0.0                 -> conv_in
    input_blocks.{i}.0 (a resnet)    -> down_blocks.{(i-1)//(L+1)}.resnets.{(i-1)%(L+1)}   in_layers.{0,2} -> norm1, conv1,
                                        emb_layers.1 -> time_emb_proj, out_layers.{0,3} -> norm2, conv2,
                                        skip_connection -> conv_shortcut
    input_blocks.{i}.0.op            -> down_blocks.{(i-1)//(L+1)}.downsamplers.0.conv
    input_blocks.{i}.1               -> down_blocks.{(i-1)//(L+1)}.attentions.{(i-1)%(L+1)}
    middle_block.{0,1,2}             -> mid_block.resnets.0, mid_block.attentions.0, mid_block.resnets.1
    input_hint_block.0 / .{last}     -> controlnet_cond_embedding.conv_in / conv_out
    input_hint_block.{2k}            -> controlnet_cond_embedding.blocks.{k-1}
    zero_convs.{i}.0                 -> controlnet_down_blocks.{i}
    middle_block_out.0               -> controlnet_mid_block
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

LDM_PREFIX = "control_model."
_RESNET = (("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"), ("out_layers.3", "conv2"),
           ("emb_layers.1", "time_emb_proj"), ("skip_connection", "conv_shortcut"))


def is_ldm_controlnet(state: Mapping[str, np.ndarray]) -> bool:
    """Whether ``state`` names a ControlNet's parameters the original way (``input_hint_block.``, ``zero_convs.``)."""
    return any(re.match(r"(control_model\.)?(input_hint_block|zero_convs)\.", k) for k in state)


def controlnet_part(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ControlNet's tensors of ``state`` under the original names without ``control_model.``: the prefixed
    ones when there are any (a file that also holds other models), else all of them."""
    prefixed = {k[len(LDM_PREFIX):]: v for k, v in state.items() if k.startswith(LDM_PREFIX)}
    return prefixed or dict(state)


def ldm_controlnet_to_diffusers(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ControlNet parameters of ``state`` (original names, with or without ``control_model.``) under diffusers'
    names. ValueError naming a key that matches no rule (a whole checkpoint, another model)."""
    net = controlnet_part(state)
    downsamplers = sorted(int(m.group(1)) for k in net if (m := re.match(r"input_blocks\.(\d+)\.0\.op\.", k)))
    per_level = downsamplers[0] if downsamplers else 1 + max(
        (int(m.group(1)) for k in net if (m := re.match(r"input_blocks\.(\d+)\.", k))), default=0)
    hint = sorted({int(m.group(1)) for k in net if (m := re.match(r"input_hint_block\.(\d+)\.", k))})
    last_hint = hint[-1] if hint else -1
    return {_rename(key, per_level, last_hint): np.asarray(value) for key, value in net.items()}


def _rename(key: str, per_level: int, last_hint: int) -> str:
    simple = [(r"^time_embed\.0\.", "time_embedding.linear_1."), (r"^time_embed\.2\.", "time_embedding.linear_2."),
              (r"^input_blocks\.0\.0\.", "conv_in."), (r"^input_hint_block\.0\.", "controlnet_cond_embedding.conv_in."),
              (rf"^input_hint_block\.{last_hint}\.", "controlnet_cond_embedding.conv_out."),
              (r"^middle_block_out\.0\.", "controlnet_mid_block.")]
    for pattern, replacement in simple:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    if (m := re.match(r"^input_hint_block\.(\d+)\.(.*)$", key)) and int(m.group(1)) % 2 == 0:
        return f"controlnet_cond_embedding.blocks.{int(m.group(1)) // 2 - 1}.{m.group(2)}"
    if m := re.match(r"^zero_convs\.(\d+)\.0\.(.*)$", key):
        return f"controlnet_down_blocks.{m.group(1)}.{m.group(2)}"
    if m := re.match(r"^input_blocks\.(\d+)\.0\.op\.(.*)$", key):
        return f"down_blocks.{(int(m.group(1)) - 1) // per_level}.downsamplers.0.conv.{m.group(2)}"
    if m := re.match(r"^input_blocks\.(\d+)\.([01])\.(.*)$", key):
        level, layer = divmod(int(m.group(1)) - 1, per_level)
        if m.group(2) == "1":
            return f"down_blocks.{level}.attentions.{layer}.{m.group(3)}"
        return f"down_blocks.{level}.resnets.{layer}.{_resnet(m.group(3))}"
    if m := re.match(r"^middle_block\.([012])\.(.*)$", key):
        if m.group(1) == "1":
            return f"mid_block.attentions.0.{m.group(2)}"
        return f"mid_block.resnets.{int(m.group(1)) // 2}.{_resnet(m.group(2))}"
    raise ValueError(f"ControlNet key {key!r} matches no rule of the original ControlNet layout")


def _resnet(rest: str) -> str:
    for old, new in _RESNET:
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    return rest
