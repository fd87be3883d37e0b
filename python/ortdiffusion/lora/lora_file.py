"""The ``.lora`` format: an ONNX file that holds only initializers (the LoRA factors), named after the
weights of the model they were converted for, so loading needs no key guessing and reads zero-copy:

    ``<part>::<target initializer>::down``   [r, in(, kh, kw)]
    ``<part>::<target initializer>::up``     [out, r(, 1, 1)]
    ``<part>::<target initializer>::alpha``  scalar float32 (delta = alpha / r * up @ down)

``part`` is ``unet`` or ``text_encoder``. Made by ``ortdiffusion lora convert``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ortdiffusion.atomic_file import write_atomically
from ortdiffusion.lora.formats import LoraLayer
from ortdiffusion.lora.targets import Assignment, Target

SEPARATOR = "::"
ROLES = ("down", "up", "alpha")


def write_lora_file(path: str | os.PathLike, assignments: Mapping[str, list[Assignment]]) -> Path:
    """Write matched LoRA layers (per part) as a .lora file, atomically; returns its path."""
    import onnx
    from onnx import helper, numpy_helper

    tensors = []
    for part, items in assignments.items():
        for a in items:
            base = f"{part}{SEPARATOR}{a.target.initializer}{SEPARATOR}"
            alpha = np.array(a.layer.scale * a.layer.rank, dtype=np.float32)
            for role, array in (("down", a.layer.down), ("up", a.layer.up), ("alpha", alpha)):
                # np.asarray, not ascontiguousarray: the latter turns the 0-d alpha into shape [1]
                tensors.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32).copy(order="C"), base + role))
    graph = helper.make_graph([], "ortdiffusion_lora", [], [], initializer=tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ortdiffusion")
    return write_atomically(path, lambda tmp: onnx.save_model(model, str(tmp)), mode=0o644)


def read_lora_file(path: str | os.PathLike, targets: Mapping[str, Mapping[str, Target]]) -> dict[str, list[Assignment]]:
    """The assignments stored in a .lora file, checked against ``targets`` (part -> module -> Target) of
    the model it is loaded into: every named weight must exist with a matching shape."""
    from ortdiffusion import initializers

    tensors = initializers.load(path)  # zero-copy views
    grouped: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for name in tensors:
        pieces = name.split(SEPARATOR)
        if len(pieces) != 3 or pieces[2] not in ROLES:
            raise ValueError(f"{path}: {name!r} is not a .lora tensor name (<part>::<weight>::down|up|alpha)")
        grouped.setdefault((pieces[0], pieces[1]), {})[pieces[2]] = tensors[name]
    result: dict[str, list[Assignment]] = {}
    problems = []
    by_initializer = {part: {t.initializer: (m, t) for m, t in ts.items()} for part, ts in targets.items()}
    for (part, initializer), roles in sorted(grouped.items()):
        if set(roles) != set(ROLES):
            problems.append(f"{part}::{initializer} lacks {sorted(set(ROLES) - set(roles))}")
            continue
        found = by_initializer.get(part, {}).get(initializer)
        if found is None:
            problems.append(f"{part}::{initializer} is not a weight of this model")
            continue
        module, target = found
        if roles["alpha"].size != 1:
            problems.append(f"{part}::{initializer}::alpha has shape {list(roles['alpha'].shape)}, expected a scalar")
            continue
        layer = LoraLayer(np.asarray(roles["down"]), np.asarray(roles["up"]), float(roles["alpha"].reshape(-1)[0]))
        weight_shape = target.shape[::-1] if target.transposed else target.shape
        if (weight_shape[0], int(np.prod(weight_shape[1:]))) != (layer.up.shape[0], int(np.prod(layer.down.shape[1:]))):
            problems.append(f"{module}: model {list(target.shape)}, .lora up {list(layer.up.shape)} down {list(layer.down.shape)}")
            continue
        result.setdefault(part, []).append(Assignment(module, layer, target))
    if problems:
        raise ValueError(f"{path} does not fit this model ({len(problems)} problems, e.g. {problems[:3]})")
    return result
