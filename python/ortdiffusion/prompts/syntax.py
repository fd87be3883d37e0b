"""The prompt syntaxes a pipeline call understands."""

from __future__ import annotations

# "plain": diffusers' behaviour (77 tokens, truncated with a warning, no weights);
# "a1111": AUTOMATIC1111's (weights, BREAK, any length in 75-token chunks)
PROMPT_SYNTAXES = ("plain", "a1111")


def check_prompt_syntax(prompt_syntax: str) -> str:
    """``prompt_syntax`` if it is one of :data:`PROMPT_SYNTAXES`, else ValueError naming them."""
    if prompt_syntax not in PROMPT_SYNTAXES:
        raise ValueError(f"prompt_syntax must be one of {', '.join(map(repr, PROMPT_SYNTAXES))}, got {prompt_syntax!r}")
    return prompt_syntax
