"""Text embeddings of prompts in AUTOMATIC1111's syntax (modules/sd_hijack_clip.py forward /
process_tokens with the "Original" emphasis): each 77-token chunk through the text encoder, its hidden
states multiplied by the tokens' weights and rescaled to the chunk's original mean, the chunks
concatenated along the sequence; prompts of fewer chunks are padded with the empty prompt's chunk (as
AUTOMATIC1111's pad_cond_uncond does for a prompt and its negative)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ortdiffusion.prompts.chunks import PromptChunk, chunk_prompt
from ortdiffusion.prompts.multi_vector import vector_count
from ortdiffusion.tokenization import CLIPTokenizer

COMMA_TOKEN = ",</w>"


def prompt_chunks(prompt: str, tokenizer: CLIPTokenizer) -> list[PromptChunk]:
    """``prompt``'s 77-token chunks with their weights (``chunk_prompt`` with ``tokenizer``'s ids)."""
    start = tokenizer.token_id("<|startoftext|>")
    end = tokenizer.token_id("<|endoftext|>")
    if start is None or end is None:
        raise ValueError("the tokenizer has no <|startoftext|> / <|endoftext|> tokens: not a CLIP tokenizer")
    added = tokenizer.added_tokens
    lengths = {added[token]: vector_count(token, added) for token in added}
    chunks, _ = chunk_prompt(prompt, tokenizer.token_ids, start, end, tokenizer.token_id(COMMA_TOKEN),
                             embedding_lengths={i: n for i, n in lengths.items() if n > 1})
    return chunks


def apply_emphasis(hidden: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """AUTOMATIC1111's "Original" emphasis on one chunk's hidden states [1, 77, D]: scaled token by token,
    then by original_mean / new_mean. All weights 1: ``hidden`` unchanged."""
    if np.all(multipliers == 1.0):
        return hidden
    original_mean = hidden.mean(dtype=np.float32)
    weighted = hidden * multipliers.astype(np.float32)[None, :, None]
    new_mean = weighted.mean(dtype=np.float32)
    return weighted * np.float32(original_mean / new_mean)


def empty_chunk_embedding(tokenizer: CLIPTokenizer, encode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """[1, 77, D]: the empty prompt's chunk, which pads shorter prompts (AUTOMATIC1111's pad_cond_uncond)."""
    return encode(np.array([prompt_chunks("", tokenizer)[0].tokens], dtype=np.int64)).astype(np.float32, copy=False)


def weighted_embeddings(
    prompts: Sequence[str], tokenizer: CLIPTokenizer, encode: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """[len(prompts), 77 * chunks, D] float32: each prompt's weighted chunks, the shorter ones padded with the
    empty prompt's chunk. ``encode`` runs the text encoder on input_ids [n, 77] -> hidden states [n, 77, D]."""
    per_prompt = []
    for prompt in prompts:
        chunks = prompt_chunks(prompt, tokenizer)
        hidden = encode(np.array([c.tokens for c in chunks], dtype=np.int64)).astype(np.float32, copy=False)
        per_prompt.append([apply_emphasis(hidden[k:k + 1], np.array(c.multipliers)) for k, c in enumerate(chunks)])
    longest = max(len(chunks) for chunks in per_prompt)
    if any(len(chunks) < longest for chunks in per_prompt):
        empty = empty_chunk_embedding(tokenizer, encode)
        per_prompt = [chunks + [empty] * (longest - len(chunks)) for chunks in per_prompt]
    return np.concatenate([np.concatenate(chunks, axis=1) for chunks in per_prompt], axis=0)
