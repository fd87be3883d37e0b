"""Telling which base model a LoRA was trained for, so a LoRA for SDXL or SD 2.x offered to an SD 1.x
pipeline is refused with "this LoRA targets a different architecture" and the evidence, not a list of
unmatched layers.

Evidence used (model facts from the SD 1.5 / SD 2.1 / SDXL configs):
- a second text encoder (kohya ``lora_te2_``, diffusers ``text_encoder_2.``) exists only in SDXL;
- ``transformer_blocks.N`` with N >= 1: SDXL stacks 2 or 10 transformer blocks per attention, SD 1.x/2.x one;
- the cross-attention width (``attn2.to_k`` input features) is the text encoder's width: 768 in SD 1.x,
  1024 in SD 2.x, 2048 in SDXL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

CROSS_ATTENTION_WIDTHS = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
_SECOND_TEXT_ENCODER = re.compile(r"(^|[._])(lora_te2_|text_encoder_2\.|te2\.)")
_EXTRA_TRANSFORMER_BLOCK = re.compile(r"transformer_blocks[._]([1-9]\d*)[._]")


def sdxl_key_evidence(keys: Iterable[str]) -> str | None:
    """Why a LoRA's keys can only belong to SDXL (a key as example), or None when nothing says so."""
    for key in keys:
        if _SECOND_TEXT_ENCODER.search(key):
            return f"it has keys for SDXL's second text encoder, e.g. {key!r}"
    for key in keys:
        if _EXTRA_TRANSFORMER_BLOCK.search(key):
            return f"it has more than one transformer block per attention (as SDXL does), e.g. {key!r}"
    return None


def cross_attention_width(down_factors: Mapping[str, np.ndarray]) -> int | None:
    """The input width of the LoRA's cross-attention key projections (``attn2.to_k``; module path or kohya
    name -> down factor [r, in]), or None when the LoRA has none."""
    for module, down in down_factors.items():
        if re.search(r"attn2[._]to_k$", module) and down.ndim == 2:
            return int(down.shape[1])
    return None


def describe_width(width: int) -> str:
    """``"2048 (as in SDXL)"`` for known widths, else the number."""
    name = CROSS_ATTENTION_WIDTHS.get(width)
    return f"{width} (as in {name})" if name else str(width)
