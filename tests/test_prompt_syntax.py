"""AUTOMATIC1111's prompt syntax and chunking on hand-computed cases (weights of nested and unbalanced
brackets, escapes, BREAK, a bad weight; chunk boundaries, the comma backtrack, BREAK chunks, the tokens'
multipliers), and the emphasis arithmetic (weight 1 a no-op, the chunk's mean restored)."""

from __future__ import annotations

import numpy as np
import pytest

from ortdiffusion.prompts import chunk_prompt, parse_prompt_attention
from ortdiffusion.prompts.attention import plain_text
from ortdiffusion.prompts.weighted_embeddings import apply_emphasis, prompt_chunks
from ortdiffusion.tokenization import CLIPTokenizer

R, S = 1.1, 1 / 1.1


def _close(got, want):
    assert [p for p, _ in got] == [p for p, _ in want]
    np.testing.assert_allclose([w for _, w in got], [w for _, w in want], rtol=1e-12)


@pytest.mark.parametrize(("text", "want"), [
    ("a red circle", [("a red circle", 1.0)]),
    ("a (red) circle", [("a ", 1.0), ("red", R), (" circle", 1.0)]),
    ("a ((red)) circle", [("a ", 1.0), ("red", R * R), (" circle", 1.0)]),
    ("a [red] circle", [("a ", 1.0), ("red", S), (" circle", 1.0)]),
    ("a (red:1.3) circle", [("a ", 1.0), ("red", 1.3), (" circle", 1.0)]),
    ("a (red: 0.5 ) circle", [("a ", 1.0), ("red", 0.5), (" circle", 1.0)]),
    ("((red:1.3) circle)", [("red", 1.3 * R), (" circle", R)]),
    ("[(red:2)]", [("red", 2 * S)]),
    ("(red:1)", [("red", 1.0)]),
    ("(open", [("open", R)]),  # an open bracket closes at the end
    ("[open", [("open", S)]),
    ("close) here]", [("close) here]", 1.0)]),  # closing brackets without an opening one are text
    (r"\(literal\) \[too\] \\", [("(literal) [too] \\", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", R)]),  # runs of one weight merge
    ("(red:abc)", [("red:abc", R)]),  # not a number: the colon stays text
    ("", [("", 1.0)]),
    ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
    ("aBREAKb", [("aBREAKb", 1.0)]),  # BREAK is a word of its own
])
def test_attention_weights(text, want):
    _close(parse_prompt_attention(text), want)


def test_a_weight_that_is_not_a_number_is_named():
    with pytest.raises(ValueError, match="prompt weight '1.2.3' in ':1.2.3\\)' is not a number"):
        parse_prompt_attention("(red:1.2.3)")
    assert plain_text("a (red:1.3) [circle] BREAK b") == "a red circle b"


@pytest.fixture(scope="module")
def tokenizer():
    return CLIPTokenizer.default()


def _ids(tokenizer, word):
    (ids,) = tokenizer.token_ids([word])
    assert len(ids) == 1, word
    return ids[0]


def test_short_prompt_is_one_chunk_equal_to_the_plain_ids(tokenizer):
    for prompt in ("a red circle on a blue background", ""):
        (chunk,) = prompt_chunks(prompt, tokenizer)
        assert chunk.tokens == tokenizer([prompt])[0].tolist()
        assert chunk.multipliers == [1.0] * 77


def test_chunk_boundaries_weights_and_break(tokenizer):
    bos, eos = tokenizer.token_id("<|startoftext|>"), tokenizer.token_id("<|endoftext|>")
    a, b, c = (_ids(tokenizer, w) for w in ("a", "b", "c"))
    # 80 tokens: a full chunk of 75, then 5
    first, second = prompt_chunks("a " * 80, tokenizer)
    assert first.tokens == [bos] + [a] * 75 + [eos] and second.tokens == [bos] + [a] * 5 + [eos] * 71
    # weights follow their tokens; start, end and padding keep 1
    (chunk,) = prompt_chunks("(a:1.5) b [c]", tokenizer)
    assert chunk.tokens[:5] == [bos, a, b, c, eos]
    np.testing.assert_allclose(chunk.multipliers[:5], [1.0, 1.5, 1.0, S, 1.0])
    # BREAK starts a chunk (padded as a short prompt)
    one, two = prompt_chunks("a BREAK b", tokenizer)
    assert one.tokens == [bos, a] + [eos] * 75 and two.tokens == [bos, b] + [eos] * 75


def test_comma_backtrack(tokenizer):
    bos, eos = tokenizer.token_id("<|startoftext|>"), tokenizer.token_id("<|endoftext|>")
    a, b, c, comma = (_ids(tokenizer, w) for w in ("a", "b", "c", ","))
    # 70 a, "b,", then 10 c: the chunk fills at the third c; the comma sits 4 tokens back (<= 20), so the
    # three c after it move to the next chunk, which the remaining seven join
    first, second = prompt_chunks("a " * 70 + "b, " + "c " * 10, tokenizer)
    assert first.tokens == [bos] + [a] * 70 + [b, comma] + [eos] * 4
    assert second.tokens == [bos] + [c] * 10 + [eos] * 66
    # a comma further back than 20 tokens: no backtrack, a hard cut at 75
    first, second = prompt_chunks("a " * 50 + ", " + "c " * 30, tokenizer)
    assert first.tokens == [bos] + [a] * 50 + [comma] + [c] * 24 + [eos]
    assert second.tokens[:8] == [bos] + [c] * 6 + [eos]


def test_chunking_with_a_stub_tokenizer():
    """chunk_prompt on its own: ids from a stub, token counts as AUTOMATIC1111 reports them."""
    def tokenize(texts):
        return [[100 + ord(ch) for ch in t if ch != " "] for t in texts]

    chunks, count = chunk_prompt("ab (c:2)", tokenize, 1, 2, None)
    assert count == 3 and len(chunks) == 1
    assert chunks[0].tokens[:5] == [1, 197, 198, 199, 2]
    assert chunks[0].multipliers[:5] == [1.0, 1.0, 1.0, 2.0, 1.0]
    chunks, count = chunk_prompt("x" * 76, tokenize, 1, 2, None)
    assert count == 76 and len(chunks) == 2


def test_emphasis_scales_tokens_and_restores_the_chunk_mean():
    rng = np.random.default_rng(0)
    hidden = rng.normal(0.3, 1.0, (1, 77, 8)).astype(np.float32)
    assert apply_emphasis(hidden, np.ones(77)) is hidden  # weight 1: untouched
    multipliers = np.ones(77)
    multipliers[3:6] = 1.5
    got = apply_emphasis(hidden, multipliers)
    weighted = hidden * multipliers[None, :, None]
    expected = weighted * (hidden.mean() / weighted.mean())
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got.mean(), hidden.mean(), rtol=1e-5)
    # the weighted tokens grew against the others
    ratio = got[0, 3] / hidden[0, 3]
    np.testing.assert_allclose(ratio / (got[0, 10] / hidden[0, 10]), 1.5, rtol=1e-5)
