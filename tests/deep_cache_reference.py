"""DeepCache as the paper describes it (Ma et al. 2023, Algorithm 1 with the shallowest skip branch, the
DeepCache helper's ``cache_branch_id=0`` and uniform schedule), written on a diffusers UNet2DConditionModel's
modules: the oracle for ortdiffusion's DeepCache.

At a full step the UNet runs as diffusers runs it, and the features entering the last ResNet of its last up
block beside the skip connection from ``conv_in`` are kept; at the other steps only ``conv_in``, that ResNet
(and the block's last attention, if it has one), ``conv_norm_out`` and ``conv_out`` run, on the kept features."""

from __future__ import annotations

from typing import Any

import torch


def shallow_branch(unet: Any, sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor,
                   cached: torch.Tensor) -> torch.Tensor:
    """The UNet's noise prediction from its shallowest branch and the cached deep features."""
    t_emb = unet.get_time_embed(sample=sample, timestep=timestep)
    emb = unet.time_embedding(t_emb)
    skip = unet.conv_in(sample)
    block = unet.up_blocks[-1]
    hidden = block.resnets[-1](torch.cat([cached, skip], dim=1), emb)
    if getattr(block, "attentions", None):
        hidden = block.attentions[-1](hidden, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]
    return unet.conv_out(unet.conv_act(unet.conv_norm_out(hidden)))


def enable_deep_cache(pipe: Any, cache_interval: int) -> None:
    """Make ``pipe.unet`` run DeepCache with ``cache_interval``: the UNet's k-th call in a pipeline call is a full
    step when k % cache_interval == 0. Call :func:`reset` before each pipeline call."""
    unet = pipe.unet
    full_forward = unet.forward
    skip_channels = unet.config.block_out_channels[0]
    state: dict[str, Any] = {"calls": 0, "cached": None}

    def keep_features(module: Any, args: tuple) -> None:
        joined = args[0]
        state["cached"] = joined[:, : joined.shape[1] - skip_channels].clone()

    def forward(sample, timestep, encoder_hidden_states, *args, return_dict: bool = True, **kwargs):
        step = state["calls"]
        state["calls"] += 1
        if step % cache_interval == 0:
            handle = unet.up_blocks[-1].resnets[-1].register_forward_pre_hook(keep_features)
            try:
                return full_forward(sample, timestep, encoder_hidden_states, *args, return_dict=return_dict, **kwargs)
            finally:
                handle.remove()
        out = shallow_branch(unet, sample, timestep, encoder_hidden_states, state["cached"])
        return (out,) if not return_dict else type("Output", (), {"sample": out})()

    unet.forward = forward
    pipe._deep_cache_state = state


def reset(pipe: Any) -> None:
    """Start the next pipeline call at step 0 with nothing cached."""
    pipe._deep_cache_state.update(calls=0, cached=None)
