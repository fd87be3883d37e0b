"""Attention that exports as one ``com.microsoft.MultiHeadAttention`` node instead of the explicit
MatMul -> Softmax -> MatMul chain.

ONNX Runtime's CPU kernel for that contrib op computes attention per block without materialising the
[batch, heads, S, S] score tensors the explicit chain allocates (1.3 GB per self-attention at 512x512 in
SD 1.5), and runs the heads in parallel. The projections stay ordinary Linear layers (``to_q``, ``to_k``,
``to_v``, ``to_out.0``), so their weights keep their diffusers names and weights_map.json, LoRA and
ControlNet weight swapping work as before.

The processor mirrors diffusers' ``AttnProcessor2_0.__call__`` for the configuration Stable Diffusion
1.x UNets and ControlNets use (no mask, no group/spatial/cross norm, no residual or rescale inside the
attention); anything else is handed to diffusers' own processor unchanged."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class MultiHeadAttentionOp(torch.autograd.Function):
    """softmax(Q K^T * scale) V over ``heads`` heads for Q [B, S, H*d], K and V [B, L, H*d]: eager
    evaluation with torch's scaled_dot_product_attention, export as com.microsoft.MultiHeadAttention."""

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
        batch, length, width = query.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # [B, S, H*d] -> [B, H, S, d]
            return t.reshape(batch, -1, heads, width // heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(query), split(key), split(value), scale=scale)
        return out.transpose(1, 2).reshape(batch, length, width)

    @staticmethod
    def symbolic(g: Any, query: Any, key: Any, value: Any, heads: int, scale: float) -> Any:
        out = g.op("com.microsoft::MultiHeadAttention", query, key, value, num_heads_i=heads, scale_f=scale)
        out.setType(query.type())  # same shape and dtype as the query (values are as wide as queries)
        return out


class FusedAttentionProcessor:
    """A diffusers attention processor whose core exports as one MultiHeadAttention node (see module
    docs); falls back to diffusers' AttnProcessor2_0 for configurations SD 1.x does not use."""

    def __init__(self) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.fallback = AttnProcessor2_0()

    @staticmethod
    def supports(attn: Any, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> bool:
        """Whether ``attn`` is called the way SD 1.x's transformer blocks call it."""
        return (
            hidden_states.ndim == 3 and attention_mask is None and attn.spatial_norm is None
            and attn.group_norm is None and not attn.norm_cross and not attn.residual_connection
            and attn.rescale_output_factor == 1.0 and getattr(attn, "norm_q", None) is None
            and getattr(attn, "norm_k", None) is None
        )

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any, **kwargs: Any
                 ) -> torch.Tensor:
        if not self.supports(attn, hidden_states, attention_mask):
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        hidden_states = MultiHeadAttentionOp.apply(query, key, value, attn.heads, float(attn.scale))
        hidden_states = attn.to_out[0](hidden_states)  # linear projection
        return attn.to_out[1](hidden_states)  # dropout (identity in eval)


def use_fused_attention(model: torch.nn.Module) -> int:
    """Give every diffusers Attention module of ``model`` the fused processor; returns how many."""
    from diffusers.models.attention_processor import Attention

    count = 0
    for module in model.modules():
        if isinstance(module, Attention):
            module.set_processor(FusedAttentionProcessor())
            count += 1
    return count
