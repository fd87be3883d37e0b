"""Single-file ControlNets (one .safetensors in the original layout people download: ``control_model.*`` or the
same names without the prefix; ``input_hint_block.*``, ``zero_convs.*``, ``middle_block_out.*``) as a diffusers
ControlNet folder, offline. A ControlNet is a copy of its base UNet's down path, so its config is the base UNet's
(heads, group norms, projections) with what only the ControlNet's tensors tell (conditioning channels, the
conditioning embedding's widths); the down path's shapes must agree with the UNet's. The keys are converted by
diffusers' own ``convert_controlnet_checkpoint``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion.checkpoints.ldm_controlnet import LDM_PREFIX, controlnet_part
from ortdiffusion.checkpoints.weights_file import read_weights_file
from ortdiffusion.exporter.single_file import down_path_config, load_checked_state, torch_views

# UNet config keys a ControlNet shares with its base (diffusers' ControlNetModel.from_unet copies these)
SHARED_WITH_UNET = ("attention_head_dim", "num_attention_heads", "norm_num_groups", "norm_eps", "flip_sin_to_cos",
                    "freq_shift", "act_fn", "only_cross_attention", "upcast_attention", "resnet_time_scale_shift",
                    "class_embed_type", "num_class_embeds", "projection_class_embeddings_input_dim",
                    "addition_embed_type", "addition_time_embed_dim", "mid_block_type")
# shapes a ControlNet must share with the UNet it steers
MUST_MATCH = ("in_channels", "block_out_channels", "layers_per_block", "down_block_types", "cross_attention_dim")


def controlnet_tensors(tensors: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """The ControlNet's tensors under the LDM names without ``control_model.``; ValueError saying what the file is
    when it is not a ControlNet."""
    net = controlnet_part(tensors)
    if "input_hint_block.0.weight" not in net or "time_embed.0.weight" not in net:
        if any(k.startswith("model.diffusion_model.") for k in tensors):
            raise ValueError(f"{path} is a whole Stable Diffusion checkpoint, not a ControlNet: pass it as --model")
        if "controlnet_cond_embedding.conv_in.weight" in tensors:
            raise ValueError(f"{path} is a ControlNet in diffusers' layout: pass the folder holding it and its "
                             "config.json as --controlnet")
        raise ValueError(f"{path} is not a ControlNet: it has no input_hint_block.* / time_embed.* tensors "
                         f"(with or without the {LDM_PREFIX!r} prefix)")
    return net


def controlnet_config(net: dict[str, np.ndarray], unet_config: dict[str, Any], path: Path) -> dict[str, Any]:
    """diffusers' ControlNetModel config for the ControlNet tensors ``net`` steering a UNet of ``unet_config``."""
    down = down_path_config(net)
    differ = [f"{key} {down[key]} (the UNet: {unet_config.get(key)})" for key in MUST_MATCH
              if key in unet_config and down[key] != unet_config[key]]
    if differ:
        width = down["cross_attention_dim"]
        kind = " (an SD 2.x ControlNet)" if width == 1024 else ""
        raise ValueError(f"{path}: this ControlNet does not fit the model's UNet{kind}: its {'; '.join(differ)}")
    hint = sorted(int(m.group(1)) for k in net if (m := re.match(r"input_hint_block\.(\d+)\.weight$", k)))
    # LDM's hint block: conv_in, then per width change a conv at that width and a strided conv to the next, then
    # conv_out; diffusers' conditioning_embedding_out_channels are the widths after conv_in and each strided conv
    widths = [int(net[f"input_hint_block.{i}.weight"].shape[0]) for i in hint[:-1]]
    return {
        "_class_name": "ControlNetModel",
        **{key: unet_config[key] for key in SHARED_WITH_UNET if key in unet_config},
        **down,
        "conditioning_channels": int(net["input_hint_block.0.weight"].shape[1]),
        "conditioning_embedding_out_channels": [widths[0], *widths[2::2]],
    }


def controlnet_file_to_diffusers(path: str | Path, folder: str | Path, unet_config: dict[str, Any]) -> None:
    """Write the single-file ControlNet ``path`` as a diffusers ControlNet folder ``folder`` (config.json and
    weights), for the base UNet of config ``unet_config``."""
    import torch
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    path = Path(path)
    net = controlnet_tensors(read_weights_file(path, "ControlNet"), path)
    with torch.device("meta"):  # no weights allocated: the file's tensors become the parameters
        model = ControlNetModel.from_config(controlnet_config(net, unet_config, path))
    checkpoint = torch_views(net)
    try:
        state = convert_controlnet_checkpoint(checkpoint, dict(model.config))
    except KeyError as e:  # diffusers' converter indexes the tensors it needs
        raise ValueError(f"{path}: the ControlNet lacks the tensor {e.args[0]!r} (a truncated file?)") from None
    state = {k: v for k, v in state.items() if v is not None}  # the converter writes None for absent tensors
    load_checked_state(model, state, path, "ControlNet", "is it a ControlNet for this model (SD 1.x, its UNet's widths)?",
                       assign=True)
    model.save_pretrained(Path(folder), safe_serialization=True)
