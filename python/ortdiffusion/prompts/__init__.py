"""Prompts as people write them: AUTOMATIC1111's attention syntax (``(word)``, ``(word:1.3)``, ``[word]``,
``BREAK``), its 75-token chunking of long prompts, and the weighted text embeddings built from them."""

from ortdiffusion.prompts.attention import parse_prompt_attention
from ortdiffusion.prompts.chunks import PromptChunk, chunk_prompt
from ortdiffusion.prompts.syntax import PROMPT_SYNTAXES, check_prompt_syntax

__all__ = ["PROMPT_SYNTAXES", "PromptChunk", "check_prompt_syntax", "chunk_prompt", "parse_prompt_attention"]
