"""LoRA files as people download them, parsed into one form: per model part (``unet``, ``text_encoder``),
per diffusers/transformers module path, the factors ``down`` [r, in(, kh, kw)] and ``up`` [out, r(, 1, 1)]
and the scale alpha / r.

Key layouts understood (diffusers' ``lora_conversion_utils`` and peft are the references):
- kohya / A1111: ``lora_unet_<path with _>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha`` and
  ``lora_te_...`` for the text encoder; module paths are found by matching against the model's own;
- diffusers + peft: ``unet.<path>.lora_A.weight`` / ``.lora_B.weight`` with alpha from the file's
  ``lora_adapter_metadata`` (``lora_alpha``, ``alpha_pattern``, ``use_rslora``) or ``.alpha`` tensors;
- older diffusers: ``unet.<path>.lora.down.weight`` / ``.lora.up.weight``, attention processors
  ``...attn1.processor.to_q_lora.down.weight`` and ``...lora_linear_layer.down.weight``.
Every key is consumed or reported: unknown keys, LoHa/LoKr/DoRA tensors and half pairs raise."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion.lora.architecture import sdxl_key_evidence
from ortdiffusion.safetensors_file import read_safetensors

PARTS = ("unet", "text_encoder")
KOHYA_PREFIXES = {"lora_unet_": "unet", "lora_te_": "text_encoder", "lora_te1_": "text_encoder"}
UNSUPPORTED_MARKERS = ("hada_", "lokr_", "dora_scale", "lora_magnitude_vector")
# old diffusers attention-processor names -> module names
_PROCESSOR_NAMES = {
    "processor.to_q": "to_q", "processor.to_k": "to_k", "processor.to_v": "to_v", "processor.to_out": "to_out.0",
    "self_attn.to_q": "self_attn.q_proj", "self_attn.to_k": "self_attn.k_proj", "self_attn.to_v": "self_attn.v_proj",
    "self_attn.to_out": "self_attn.out_proj",
}


@dataclass
class LoraLayer:
    """One LoRA pair: delta W = scale * up @ down (reshaped for convolutions)."""

    down: np.ndarray
    up: np.ndarray
    alpha: float | None = None
    rslora: bool = False

    @property
    def rank(self) -> int:
        """The inner dimension r."""
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        """alpha / r (alpha / sqrt(r) for rsLoRA); alpha defaults to r, as diffusers assumes."""
        alpha = float(self.rank) if self.alpha is None else self.alpha
        return alpha / math.sqrt(self.rank) if self.rslora else alpha / self.rank


@dataclass
class LoraFile:
    """A parsed LoRA: ``layers[part][module path or kohya name]``; kohya names (``kohya=True``) still need
    matching against a model's module paths (see targets.py)."""

    source: str
    layers: dict[str, dict[str, LoraLayer]] = field(default_factory=lambda: {p: {} for p in PARTS})
    kohya: bool = False

    def count(self) -> int:
        """Number of LoRA pairs."""
        return sum(len(v) for v in self.layers.values())


def _as_float32(name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind != "f" and str(array.dtype) != "bfloat16":
        raise ValueError(f"LoRA tensor {name!r} has dtype {array.dtype}; expected floating point")
    return np.ascontiguousarray(array.astype(np.float32))


def _peft_alphas(metadata: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per part: lora_alpha, alpha_pattern, use_rslora from diffusers' ``lora_adapter_metadata``."""
    raw = metadata.get("lora_adapter_metadata")
    if not raw:
        return {}
    try:
        flat = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"lora_adapter_metadata is not JSON: {e}") from e
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        part, _, name = key.partition(".")
        out.setdefault(part, {})[name] = value
    return out


def _pattern_value(patterns: Mapping[str, Any], module: str) -> Any:
    """peft's alpha_pattern lookup: a key matches when the module path ends with it (regex allowed)."""
    for pattern, value in patterns.items():
        if re.fullmatch(rf"(.*\.)?{pattern}", module):
            return value
    return None


def parse_lora(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None, source: str = "<dict>") -> LoraFile:
    """Parse a LoRA state dict (any layout above) into a :class:`LoraFile`; raises ValueError listing
    every key that is not part of a complete, supported LoRA pair."""
    remaining = dict(tensors)
    evidence = sdxl_key_evidence(sorted(remaining))
    if evidence:
        raise ValueError(f"{source}: this LoRA targets a different architecture (SDXL, not SD 1.x): {evidence}")
    unsupported = sorted(k for k in remaining if any(m in k for m in UNSUPPORTED_MARKERS))
    if unsupported:
        raise ValueError(f"{source}: unsupported LoRA variant (LoHa/LoKr/DoRA): {unsupported[:5]}")
    result = LoraFile(source=source)
    if any(k.startswith(tuple(KOHYA_PREFIXES)) for k in remaining):
        result.kohya = True
        _parse_kohya(remaining, result)
    else:
        _parse_diffusers(remaining, dict(metadata or {}), result)
    if remaining:
        raise ValueError(f"{source}: {len(remaining)} keys are not LoRA pairs this reader understands: {sorted(remaining)[:8]}")
    if result.count() == 0:
        raise ValueError(f"{source}: no LoRA layers found")
    return result


def _parse_kohya(remaining: dict[str, np.ndarray], result: LoraFile) -> None:
    for key in sorted(k for k in remaining if k.endswith(".lora_down.weight")):
        name = key[: -len(".lora_down.weight")]
        prefix = next(p for p in KOHYA_PREFIXES if name.startswith(p)) if name.startswith(tuple(KOHYA_PREFIXES)) else None
        if prefix is None:
            continue
        up_key = f"{name}.lora_up.weight"
        if up_key not in remaining:
            raise ValueError(f"{result.source}: {key} has no matching {up_key}")
        down, up = remaining.pop(key), remaining.pop(up_key)
        alpha_tensor = remaining.pop(f"{name}.alpha", None)
        alpha = float(np.asarray(alpha_tensor, dtype=np.float64).reshape(-1)[0]) if alpha_tensor is not None else None
        result.layers[KOHYA_PREFIXES[prefix]][name[len(prefix):]] = LoraLayer(_as_float32(key, down), _as_float32(up_key, up), alpha)


# "<path>.lora_A.weight", "<path>.lora.down.weight", "<path>.lora_linear_layer.down.weight", and the old
# attention-processor form "<path>_lora.down.weight" (separator "_")
_DIFFUSERS_PAIR = re.compile(
    r"^(?P<path>.+?)(?P<sep>[._])(?P<kind>lora_A|lora_B|lora\.down|lora\.up|lora_linear_layer\.down|lora_linear_layer\.up)\.weight$"
)


def _module_path(path: str, old_processor_form: bool) -> str:
    if old_processor_form:
        for old, new in _PROCESSOR_NAMES.items():
            if path.endswith(old):
                return path[: -len(old)] + new
    return path


def _parse_diffusers(remaining: dict[str, np.ndarray], metadata: dict[str, str], result: LoraFile) -> None:
    peft_config = _peft_alphas(metadata)
    pairs: dict[tuple[str, str], dict[str, str]] = {}
    for key in list(remaining):
        match = _DIFFUSERS_PAIR.match(key)
        if match is None:
            continue
        full = match["path"]
        part, _, path = full.partition(".")
        if part not in PARTS:
            if full.startswith("base_model.model."):
                part, path = "unet", full[len("base_model.model."):]
            else:
                raise ValueError(f"{result.source}: LoRA key {key!r} does not name a model part ({', '.join(PARTS)})")
        role = "down" if match["kind"] in ("lora_A", "lora.down", "lora_linear_layer.down") else "up"
        pairs.setdefault((part, _module_path(path, match["sep"] == "_")), {})[role] = key
    for (part, path), roles in sorted(pairs.items()):
        if set(roles) != {"down", "up"}:
            raise ValueError(f"{result.source}: {part}.{path} has only {sorted(roles)} of its LoRA pair")
        down, up = remaining.pop(roles["down"]), remaining.pop(roles["up"])
        alpha_key = f"{part}.{path}.alpha"
        alpha_tensor = remaining.pop(alpha_key, None)
        config = peft_config.get(part, {})
        alpha = None
        if alpha_tensor is not None:
            alpha = float(np.asarray(alpha_tensor, dtype=np.float64).reshape(-1)[0])
        elif config:
            pattern = _pattern_value(config.get("alpha_pattern") or {}, path)
            alpha = float(pattern if pattern is not None else config.get("lora_alpha", down.shape[0]))
        result.layers[part][path] = LoraLayer(
            _as_float32(roles["down"], down), _as_float32(roles["up"], up), alpha, bool(config.get("use_rslora", False))
        )


def load_lora_file(path_or_tensors: str | os.PathLike | Mapping[str, Any]) -> LoraFile:
    """Parse a LoRA from a .safetensors path, a folder holding ``pytorch_lora_weights.safetensors``, or a
    state dict of numpy arrays (or torch tensors)."""
    if isinstance(path_or_tensors, Mapping):
        tensors = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v) for k, v in path_or_tensors.items()}
        return parse_lora(tensors, {}, "<state dict>")
    path = Path(path_or_tensors)
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors"))
        if len(candidates) != 1:
            raise FileNotFoundError(f"{path} must hold exactly one .safetensors LoRA file, found {len(candidates)}")
        path = candidates[0]
    tensors, metadata = read_safetensors(path)
    return parse_lora(tensors, metadata, str(path))
