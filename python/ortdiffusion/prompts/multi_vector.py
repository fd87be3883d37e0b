"""Prompts naming multi-vector textual-inversion embeddings: an embedding of n vectors is added as the
tokens ``tok``, ``tok_1`` ... ``tok_{n-1}``, and a prompt that says ``tok`` reads all of them (diffusers'
``TextualInversionLoaderMixin.maybe_convert_prompt``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ortdiffusion.tokenization import CLIPTokenizer


def vector_count(token: str, added: Mapping[str, int]) -> int:
    """How many tokens ``token``'s embedding spans among the ``added`` tokens: itself and ``token_1`` ..."""
    count = 1
    while f"{token}_{count}" in added:
        count += 1
    return count


def expand_multi_vector_tokens(prompt: str, tokenizer: CLIPTokenizer) -> str:
    """``prompt`` with each added token ``tok`` that has ``tok_1`` ... replaced by ``"tok tok_1 ..."``: as
    diffusers' ``_maybe_convert_prompt``, a text replacement of every token the prompt tokenizes to. The
    tokenizer matches added tokens in the lowercased text (CLIP's normalizer), so ``BadDream`` in a prompt reads
    an embedding added as ``BadDream``: the replacement ignores case too. Prompts without added tokens come back
    unchanged."""
    added = tokenizer.added_tokens
    if not added:
        return prompt
    by_lower = {token.lower(): token for token in added}
    for piece in set(tokenizer.tokenize(prompt)):
        token = by_lower.get(piece.lower())
        if token is None:
            continue
        count = vector_count(token, added)
        if count > 1:
            spelled = " ".join([token] + [f"{token}_{i}" for i in range(1, count)])
            prompt = re.sub(re.escape(token) + r"(?!_\d)", lambda _, text=spelled: text, prompt, flags=re.IGNORECASE)
    return prompt
