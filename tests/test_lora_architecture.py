"""Which base model a LoRA's keys and widths point to (SDXL / SD 2.x evidence)."""

from __future__ import annotations

import numpy as np
import pytest

from ortdiffusion.lora.architecture import cross_attention_width, describe_width, sdxl_key_evidence
from ortdiffusion.lora.formats import parse_lora


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", "second text encoder"),
        ("text_encoder_2.text_model.encoder.layers.0.mlp.fc1.lora_A.weight", "second text encoder"),
        ("lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_q.lora_down.weight", "more than one transformer block"),
        ("unet.down_blocks.2.attentions.0.transformer_blocks.9.ff.net.2.lora_B.weight", "more than one transformer block"),
    ],
)
def test_sdxl_keys_are_recognised(key, reason):
    assert reason in sdxl_key_evidence(["unet.conv_in.lora_A.weight", key])


@pytest.mark.parametrize(
    "key",
    [
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight",
        "unet.up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k.lora_A.weight",
        "lora_te_text_model_encoder_layers_11_mlp_fc2.alpha",
    ],
)
def test_sd1_keys_carry_no_sdxl_evidence(key):
    assert sdxl_key_evidence([key]) is None


def test_cross_attention_width_and_its_name():
    downs = {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k": np.zeros((4, 320)),
             "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k": np.zeros((4, 1024))}
    assert cross_attention_width(downs) == 1024
    assert cross_attention_width({"lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k": np.zeros((2, 2048))}) == 2048
    assert cross_attention_width({"x.attn1.to_k": np.zeros((4, 320))}) is None
    assert describe_width(768) == "768 (as in SD 1.x)" and describe_width(32) == "32"


def test_parse_refuses_an_sdxl_lora_before_anything_else():
    tensors = {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": np.zeros((2, 4), np.float32),
               "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": np.zeros((4, 2), np.float32)}
    with pytest.raises(ValueError, match=r"x.safetensors: this LoRA targets a different architecture \(SDXL"):
        parse_lora(tensors, {}, "x.safetensors")
