"""AUTOMATIC1111's extra-network tags in prompts: ``<lora:name:weight>`` (``<lora:name>`` is weight 1, and a
third number, the UNet weight of ``<lora:name:te:unet>``, takes the second's place as AUTOMATIC1111 applies one
weight per LoRA here). The tags are taken out of the prompt the model reads."""

from __future__ import annotations

import re

from ortdiffusion.server.errors import RequestError

_TAG = re.compile(r"<(\w+):([^:>]+)((?::[^:>]*)*)>")
LORA_NETWORKS = ("lora", "lyco")  # AUTOMATIC1111 reads LyCORIS files through the same tag name


def extract_loras(prompt: str, field: str) -> tuple[str, list[tuple[str, float]]]:
    """``prompt`` without its tags, and the LoRAs they name with their weights (the last tag of a name wins).
    RequestError (422 naming ``field``) for another network kind or a weight that is not a number."""
    loras: dict[str, float] = {}

    def take(match: re.Match) -> str:
        kind, name, rest = match.group(1).lower(), match.group(2).strip(), match.group(3)
        if kind not in LORA_NETWORKS:
            raise RequestError(field, f"{field}: <{kind}:...> networks are not served (only <lora:name:weight>)")
        numbers = [n for n in rest.split(":")[1:] if n.strip()]
        try:
            weights = [float(n) for n in numbers]
        except ValueError:
            raise RequestError(field, f"{field}: the weight in {match.group(0)!r} is not a number") from None
        loras[name] = weights[-1] if weights else 1.0
        return ""

    cleaned = _TAG.sub(take, prompt)
    return " ".join(cleaned.split()) if loras else cleaned, list(loras.items())
