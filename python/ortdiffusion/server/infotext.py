"""Reading AUTOMATIC1111's infotext (the PNG ``parameters`` chunk) back into fields, as its ``png-info`` route
does (modules/infotext_utils.py ``parse_generation_parameters``): the prompt lines, ``Negative prompt:``, and
the last line's ``Key: value`` pairs (values may be double-quoted JSON strings holding commas)."""

from __future__ import annotations

import json
import re
from typing import Any

_PAIR = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def parse_infotext(text: str) -> dict[str, Any]:
    """{"Prompt": ..., "Negative prompt": ..., "Steps": "20", ...}: strings as written, quotes removed."""
    lines = text.strip().split("\n")
    last = lines[-1] if lines else ""
    pairs = _PAIR.findall(last)
    if len(pairs) < 3:  # the last line is prompt text, not parameters
        pairs = []
    else:
        lines = lines[:-1]
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    result: dict[str, Any] = {"Prompt": "\n".join(prompt).strip(), "Negative prompt": "\n".join(negative).strip()}
    for key, value in pairs:
        value = value.strip()
        if value.startswith('"') and value.endswith('"'):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value[1:-1]
        result[key.strip()] = value
    return result
