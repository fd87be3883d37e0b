"""AUTOMATIC1111's prompt attention syntax (modules/prompt_parser.py, parse_prompt_attention), the same
tokens and the same lenient rules:

- ``(text)`` multiplies the weight of text by 1.1, ``[text]`` divides it by 1.1, nesting multiplies;
- ``(text:1.5)`` sets the multiplier to 1.5 (a number: digits, a dot, an optional sign);
- ``\\(``, ``\\)``, ``\\[``, ``\\]``, ``\\\\`` are literal characters;
- brackets left open are closed at the end; a closing bracket with no opening one is literal text;
- ``BREAK`` (a word of its own, capitals) ends the current 75-token chunk.
"""

from __future__ import annotations

import re

ROUND_BRACKET_MULTIPLIER = 1.1
SQUARE_BRACKET_MULTIPLIER = 1 / 1.1
# the weight of a BREAK marker in the parsed list (AUTOMATIC1111's convention)
BREAK_WEIGHT = -1.0

_ATTENTION = re.compile(
    r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|
]|
[^\\()\[\]:]+|
:
""",
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.DOTALL)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """``text`` as (piece, weight) pairs in order, runs of equal weight merged; ``("BREAK", -1.0)`` marks a
    chunk break. A weight that is not a number (``(x:abc)``) is not a weight: the characters stay text, as
    AUTOMATIC1111 reads them."""
    res: list[list] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for match in _ATTENTION.finditer(text):
        piece, weight = match.group(0), match.group(1)
        if piece.startswith("\\"):
            res.append([piece[1:], 1.0])
        elif piece == "(":
            round_brackets.append(len(res))
        elif piece == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), _number(weight, piece))
        elif piece == ")" and round_brackets:
            multiply_range(round_brackets.pop(), ROUND_BRACKET_MULTIPLIER)
        elif piece == "]" and square_brackets:
            multiply_range(square_brackets.pop(), SQUARE_BRACKET_MULTIPLIER)
        else:
            for i, part in enumerate(_BREAK.split(piece)):
                if i > 0:
                    res.append(["BREAK", BREAK_WEIGHT])
                res.append([part, 1.0])
    for start in round_brackets:
        multiply_range(start, ROUND_BRACKET_MULTIPLIER)
    for start in square_brackets:
        multiply_range(start, SQUARE_BRACKET_MULTIPLIER)
    if not res:
        res = [["", 1.0]]
    # merge runs of identical weights
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(piece, float(weight)) for piece, weight in res]


def _number(weight: str, piece: str) -> float:
    """The weight of ``(text:W)``: AUTOMATIC1111's pattern admits strings such as "1.2.3" or "." that
    float() rejects (AUTOMATIC1111 then fails with a traceback); here a ValueError names the weight."""
    try:
        return float(weight)
    except ValueError:
        raise ValueError(f"prompt weight {weight!r} in {piece.strip()!r} is not a number") from None


def plain_text(text: str) -> str:
    """``text`` without the attention syntax: its pieces joined, BREAKs as spaces (for messages)."""
    return "".join(" " if weight == BREAK_WEIGHT else piece for piece, weight in parse_prompt_attention(text))
