"""Where each LoRA-able module's weight lives in an exported graph, and the matching of a LoRA's layers
to those weights.

A module's weight is found from ``weights_map.json`` when the folder has one (ortdiffusion exports), else
by graph analysis (optimum exports, which constant-fold Linear weights into ``W^T`` initializers under
generated names): a node named ``/down_blocks.0/attentions.0/.../to_q/MatMul`` (or ``Gemm``/``Conv``) names
its module, and its weight input is followed through a ``Transpose`` when there is one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortdiffusion.lora.architecture import cross_attention_width, describe_width
from ortdiffusion.lora.formats import LoraFile, LoraLayer
from ortdiffusion.model_folder import MODEL_FILE

WEIGHTS_MAP_FILE = "weights_map.json"
_WEIGHT_OPS = {"MatMul", "Gemm", "Conv"}


@dataclass(frozen=True)
class Target:
    """A module's weight: the initializer, its shape, and whether it stores W^T (folded Linear weights)."""

    initializer: str
    shape: tuple[int, ...]
    transposed: bool


def _from_weights_map(folder: Path, module: str) -> dict[str, Target]:
    data = json.loads((folder / WEIGHTS_MAP_FILE).read_text(encoding="utf-8"))
    entries = data.get("modules", {}).get(module, {})
    targets = {}
    for param, e in entries.items():
        if not param.endswith(".weight") or len(e["shape"]) not in (2, 4) or ".lora_A." in param or ".lora_B." in param:
            continue
        module = param[: -len(".weight")].removesuffix(".base_layer")  # peft-wrapped layers of swap exports
        targets[module] = Target(e["initializer"], tuple(e["shape"]), bool(e["transposed"]))
    return targets


def _from_graph(folder: Path) -> dict[str, Target]:
    import onnx  # lazily: importing onnx (ml_dtypes) costs most of a second, and plain generation never needs it

    model = onnx.load(str(folder / MODEL_FILE), load_external_data=False)
    shapes = {t.name: tuple(int(d) for d in t.dims) for t in model.graph.initializer}
    transposes = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Transpose"}
    targets: dict[str, Target] = {}
    for name, shape in shapes.items():  # weights that kept their parameter names (convolutions...)
        if name.endswith(".weight") and len(shape) in (2, 4):
            targets[name[: -len(".weight")]] = Target(name, shape, False)
    for node in model.graph.node:
        if node.op_type not in _WEIGHT_OPS or not node.name.startswith("/") or len(node.input) < 2:
            continue
        module = node.name[1:].rsplit("/", 1)[0].replace("/", ".")
        if module in targets:
            continue
        weight = node.input[1]
        through_transpose = weight in transposes
        source = transposes.get(weight, weight)
        if source not in shapes:
            continue
        transposed = node.op_type == "MatMul" and not through_transpose
        if node.op_type == "Gemm":
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            transposed = not trans_b if not through_transpose else bool(trans_b)
        targets[module] = Target(source, shapes[source], transposed)
    return targets


def module_targets(folder: str | Path, module: str) -> dict[str, Target]:
    """Module path -> weight target for a model folder (``unet/``, ``text_encoder/``); ``module`` is the
    weights-map module ("unet", "text_encoder")."""
    path = Path(folder)
    if (path / WEIGHTS_MAP_FILE).is_file():
        return _from_weights_map(path, module)
    return _from_graph(path)


def _normalize(path: str) -> str:
    """Module paths compared without transformers' optional ``text_model.`` level."""
    return path.removeprefix("text_model.")


@dataclass
class Assignment:
    """One LoRA layer matched to the weight it changes."""

    module: str
    layer: LoraLayer
    target: Target


def _width_hint(lora: LoraFile, part: str, targets: dict[str, Target]) -> str:
    """", its cross-attention width is 2048 (as in SDXL), this model's 768 (as in SD 1.x)" when both are known."""
    if part != "unet":
        return ""
    theirs = cross_attention_width({name: layer.down for name, layer in lora.layers[part].items()})
    ours = next((t.shape[0] if t.transposed else t.shape[-1] for m, t in targets.items() if m.endswith("attn2.to_k")), None)
    if theirs is None or ours is None or theirs == ours:
        return ""
    return f": its cross-attention width is {describe_width(theirs)}, this model's {describe_width(ours)}"


def match_layers(lora: LoraFile, part: str, targets: dict[str, Target]) -> list[Assignment]:
    """Match every layer of ``lora``'s ``part`` to a target; raises ValueError naming layers with no target
    or a shape mismatch ("targets a different architecture")."""
    by_path = {_normalize(m): m for m in targets}
    by_kohya = {_normalize(m).replace(".", "_"): m for m in targets}
    assignments: list[Assignment] = []
    missing: list[str] = []
    mismatched: list[str] = []
    for name, layer in lora.layers.get(part, {}).items():
        key = _normalize(name) if not lora.kohya else (name.removeprefix("text_model_"))
        module = by_kohya.get(key) if lora.kohya else by_path.get(key)
        if module is None:
            missing.append(name)
            continue
        target = targets[module]
        out_features, in_flat = layer.up.shape[0], int(np.prod(layer.down.shape[1:]))
        weight_shape = target.shape[::-1] if target.transposed else target.shape
        if (weight_shape[0], int(np.prod(weight_shape[1:]))) != (out_features, in_flat) or layer.up.shape[1] != layer.rank:
            mismatched.append(f"{module}: model {list(target.shape)}, LoRA up {list(layer.up.shape)} down {list(layer.down.shape)}")
            continue
        assignments.append(Assignment(module, layer, target))
    if mismatched:
        raise ValueError(
            f"{lora.source}: this LoRA targets a different architecture{_width_hint(lora, part, targets)} "
            f"({len(mismatched)} shape mismatches in {part}, e.g. {mismatched[0]})"
        )
    if missing:
        raise ValueError(f"{lora.source}: {len(missing)} {part} LoRA layers match no weight of the model: {missing[:5]}")
    return assignments
