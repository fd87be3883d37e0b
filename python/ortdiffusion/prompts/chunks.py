"""AUTOMATIC1111's chunking of a prompt (modules/sd_hijack_clip.py, tokenize_line): the weighted pieces
tokenized one by one, packed 75 tokens to a chunk, each chunk wrapped in <|startoftext|> ... <|endoftext|>
and padded with <|endoftext|> to 77, with the comma backtrack: when a chunk is full and a comma lies among
its last ``comma_backtrack`` tokens, the tokens after the comma move to the next chunk; a multi-vector
textual-inversion embedding that does not fit in the rest of a chunk starts the next one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ortdiffusion.prompts.attention import BREAK_WEIGHT, parse_prompt_attention

CHUNK_LENGTH = 75  # tokens of text per chunk; with start and end, the text encoder's 77
COMMA_BACKTRACK = 20  # AUTOMATIC1111's default comma_padding_backtrack


@dataclass
class PromptChunk:
    """77 token ids and their weights (1.0 for the start, end and padding tokens)."""

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)


def chunk_prompt(
    prompt: str,
    tokenize: Callable[[Sequence[str]], list[list[int]]],
    start_id: int,
    end_id: int,
    comma_id: int | None,
    comma_backtrack: int = COMMA_BACKTRACK,
    embedding_lengths: Mapping[int, int] | None = None,
) -> tuple[list[PromptChunk], int]:
    """The chunks of ``prompt`` and its token count. ``tokenize`` maps texts to token ids without
    special tokens, padding or truncation; ``embedding_lengths`` maps the first token of each multi-vector
    embedding to its number of vectors (tokens)."""
    embedding_lengths = embedding_lengths or {}
    parsed = parse_prompt_attention(prompt)
    tokenized = tokenize([text for text, _ in parsed])
    chunks: list[PromptChunk] = []
    chunk = PromptChunk()
    token_count = 0
    last_comma = -1

    def next_chunk(is_last: bool = False) -> None:
        nonlocal chunk, token_count, last_comma
        token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        to_add = CHUNK_LENGTH - len(chunk.tokens)
        if to_add > 0:
            chunk.tokens += [end_id] * to_add
            chunk.multipliers += [1.0] * to_add
        chunk.tokens = [start_id, *chunk.tokens, end_id]
        chunk.multipliers = [1.0, *chunk.multipliers, 1.0]
        last_comma = -1
        chunks.append(chunk)
        chunk = PromptChunk()

    for tokens, (text, weight) in zip(tokenized, parsed):
        if text == "BREAK" and weight == BREAK_WEIGHT:
            next_chunk()
            continue
        for token in tokens:
            if token == comma_id:
                last_comma = len(chunk.tokens)
            elif (comma_backtrack != 0 and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                  and len(chunk.tokens) - last_comma <= comma_backtrack):
                # move the text after the last comma to the next chunk
                break_location = last_comma + 1
                moved_tokens = chunk.tokens[break_location:]
                moved_multipliers = chunk.multipliers[break_location:]
                chunk.tokens = chunk.tokens[:break_location]
                chunk.multipliers = chunk.multipliers[:break_location]
                next_chunk()
                chunk.tokens = moved_tokens
                chunk.multipliers = moved_multipliers
            if len(chunk.tokens) == CHUNK_LENGTH:
                next_chunk()
            if chunk.tokens and len(chunk.tokens) + embedding_lengths.get(token, 1) > CHUNK_LENGTH:
                next_chunk()  # AUTOMATIC1111 keeps an embedding's vectors in one chunk
            chunk.tokens.append(token)
            chunk.multipliers.append(weight)
    if chunk.tokens or not chunks:
        next_chunk(is_last=True)
    return chunks, token_count
