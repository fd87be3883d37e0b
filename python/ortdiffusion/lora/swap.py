"""Swap mode: the UNet was exported with zero LoRA slots (``ortdiffusion export --lora-rank R``); active
LoRAs fill them. Several LoRAs are stacked along the rank axis: with A = [A_1; A_2] and B = [s_1 B_1, s_2 B_2],
B @ A = s_1 B_1 A_1 + s_2 B_2 A_2 exactly, and unused rank rows stay zero (exact too)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortdiffusion.lora.targets import Assignment

WEIGHTS_MAP_FILE = "weights_map.json"


@dataclass(frozen=True)
class Slot:
    """The LoRA factor initializers of one module: A [R, in(, kh, kw)], B [out, R(, 1, 1)]."""

    a: str
    b: str
    rank: int


def read_slots(folder: Path, part: str) -> dict[str, Slot]:
    """Module path -> slot, from an export's weights_map.json ({} when it has none)."""
    path = folder / WEIGHTS_MAP_FILE
    if not path.is_file():
        return {}
    slots = json.loads(path.read_text(encoding="utf-8")).get("lora_slots", {}).get(part, {})
    return {module: Slot(s["A"], s["B"], int(s["rank"])) for module, s in slots.items()}


def check_fits(assignments: Sequence[Assignment], slots: dict[str, Slot], source: str) -> None:
    """Every layer must have a slot of at least its rank ("same-structure LoRAs only")."""
    unslotted = sorted({a.module for a in assignments if a.module not in slots})
    if unslotted:
        raise ValueError(
            f"{source}: this export has LoRA slots for {len(slots)} modules, not for {unslotted[:4]}"
            f"{' ...' if len(unslotted) > 4 else ''}; re-export with matching --lora-targets, or use a plain export"
        )
    too_big = sorted({f"{a.module} (rank {a.layer.rank} > {slots[a.module].rank})" for a in assignments
                      if a.layer.rank > slots[a.module].rank})
    if too_big:
        raise ValueError(f"{source}: ranks exceed the export's slots: {too_big[:3]}; re-export with a larger --lora-rank")


def fill_slots(slots: dict[str, Slot], adapters: Sequence[tuple[Sequence[Assignment], float]],
               shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Factor arrays (initializer name -> A or B in its stored layout) for the active ``adapters``
    (assignments, adapter weight); modules without active layers get zeros."""
    arrays = {name: np.zeros(shapes[name], dtype=np.float32) for slot in slots.values() for name in (slot.a, slot.b)}
    used: dict[str, int] = {}
    for assignments, weight in adapters:
        for a in assignments:
            slot = slots[a.module]
            start = used.get(a.module, 0)
            stop = start + a.layer.rank
            if stop > slot.rank:
                raise ValueError(
                    f"{a.module}: the active LoRAs need rank {stop} together, the export's slot holds {slot.rank}; "
                    "activate fewer at once or re-export with a larger --lora-rank"
                )
            arrays[slot.a][start:stop] = a.layer.down
            arrays[slot.b][:, start:stop] = a.layer.up * np.float32(weight * a.layer.scale)
            used[a.module] = stop
    return arrays
