"""torch modules that give each exported graph its ONNX signature (input/output names, tensors only).

Each wrapper keeps the diffusers/transformers model as an attribute, so the exported initializers are
named ``<attribute>.<diffusers parameter>`` (e.g. ``unet.conv_in.weight``); see weights_map.py."""

from __future__ import annotations

import torch


class TextEncoderForExport(torch.nn.Module):
    """CLIPTextModel -> (last_hidden_state, pooler_output), as optimum exports it, plus
    ``normed_hidden_states`` [layers + 1, batch, sequence, width]: every layer's hidden states through the final
    layer norm, so that diffusers' ``clip_skip`` (``final_layer_norm(hidden_states[-(clip_skip + 1)])``) needs
    no other graph."""

    def __init__(self, text_encoder: torch.nn.Module) -> None:
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.text_encoder(input_ids=input_ids, output_hidden_states=True, return_dict=True)
        # transformers < 5 nests the modules under text_model
        norm = getattr(self.text_encoder, "text_model", self.text_encoder).final_layer_norm
        normed = torch.stack([norm(h) for h in out.hidden_states])
        return out.last_hidden_state, out.pooler_output, normed


class VaeEncoderForExport(torch.nn.Module):
    """AutoencoderKL encoder -> the latent distribution's parameters [B, 2C, h, w] (mean and logvar
    concatenated, diffusers' ``DiagonalGaussianDistribution.parameters``); the sample is drawn outside
    the graph with the caller's generator, in the same order as diffusers."""

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(sample, return_dict=True).latent_dist.parameters


class VaeDecoderForExport(torch.nn.Module):
    """AutoencoderKL decoder (post_quant_conv included): latents already divided by scaling_factor."""

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent_sample, return_dict=False)[0]


class UNetForExport(torch.nn.Module):
    """UNet2DConditionModel -> noise prediction (``out_sample``, optimum's name)."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class GuidanceConditionedUNetForExport(torch.nn.Module):
    """A UNet distilled with guidance as a condition (LCM: ``time_cond_proj_dim`` set) -> noise prediction;
    its ``timestep_cond`` input takes the guidance-scale embedding the pipeline computes."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                timestep_cond: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states, timestep_cond=timestep_cond, return_dict=False)[0]


class UNetWithControlNetsForExport(torch.nn.Module):
    """UNet and N ControlNets fused into one graph.

    ``controlnet_cond`` is [N, B, 3, 8h, 8w] and ``conditioning_scale`` [N, B, R]: one scale per ControlNet,
    batch item and residual (R = the down-block residuals and the mid-block one). ControlNet k runs on the
    same sample, timestep and text embeddings as the UNet, its residual r of item b scaled by
    ``conditioning_scale[k, b, r]`` and summed over k in order, as ``MultiControlNetModel.forward`` does. A
    constant scale per ControlNet is diffusers' usual call; guess mode scales the residuals by
    ``logspace(-1, 0, R)`` and zeroes the unconditional half of the batch (diffusers' ``guess_mode``)."""

    def __init__(self, unet: torch.nn.Module, controlnets: list[torch.nn.Module]) -> None:
        super().__init__()
        self.unet = unet
        self.controlnets = torch.nn.ModuleList(controlnets)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_scale: torch.Tensor,
    ) -> torch.Tensor:
        down_residuals: list[torch.Tensor] | None = None
        mid_residual: torch.Tensor | None = None
        for k, controlnet in enumerate(self.controlnets):
            down, mid = controlnet(
                sample, timestep, encoder_hidden_states, controlnet_cond[k], conditioning_scale=1.0, return_dict=False,
            )
            scale = conditioning_scale[k]  # [B, R]
            down = [d * scale[:, r].reshape(-1, 1, 1, 1) for r, d in enumerate(down)]
            mid = mid * scale[:, len(down)].reshape(-1, 1, 1, 1)
            if down_residuals is None or mid_residual is None:
                down_residuals, mid_residual = list(down), mid
            else:
                down_residuals = [a + b for a, b in zip(down_residuals, down)]
                mid_residual = mid_residual + mid
        return self.unet(
            sample, timestep, encoder_hidden_states,
            down_block_additional_residuals=down_residuals,
            mid_block_additional_residual=mid_residual,
            return_dict=False,
        )[0]
