"""diffusers' LoRA API on the ONNX pipelines (``load_lora_weights``, ``set_adapters``, ``disable_lora``,
``enable_lora``, ``delete_adapters``, ``unload_lora_weights``), in merge mode: the active LoRAs are merged
into the targeted weights natively and the UNet / text encoder sessions are recreated with those weights as
initializers, so the exported model never changes and untouched weights stay memory-mapped."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ortdiffusion import initializers
from ortdiffusion.lora import Assignment, merged_weights
from ortdiffusion.lora.live import LiveWeights, build_live_graph
from ortdiffusion.lora.model_match import LORA_PARTS, match_lora_to_model
from ortdiffusion.lora.swap import Slot, check_fits, fill_slots, read_slots
from ortdiffusion.model_folder import FLOAT_WEIGHT_PRECISIONS, folder_precision
from ortdiffusion.pipelines.components import MODEL_FILE, PipelineComponents

logger = logging.getLogger(__name__)

@dataclass
class LoraState:
    """Loaded adapters (matched to the model), which are active with what weight, and whether LoRA is on."""

    adapters: dict[str, dict[str, list[Assignment]]] = field(default_factory=dict)
    active: dict[str, float] = field(default_factory=dict)
    enabled: bool = True
    replaced: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # part -> fixed weight swaps
    replaced_version: int = 0
    serials: dict[str, int] = field(default_factory=dict)  # adapter -> load number (names can be reused)
    loads: int = 0
    applied: dict[str, tuple] = field(default_factory=dict)  # part -> key of what its session holds
    live_parts: set[str] = field(default_factory=set)  # parts switched in place (enable_live_lora)
    live: dict[str, LiveWeights] = field(default_factory=dict)
    slots: dict[str, dict[str, Slot]] = field(default_factory=dict)  # swap-mode exports: part -> module -> slot
    base: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict)


def applies_lora_scale(call: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a pipeline's ``__call__``: its ``cross_attention_kwargs={"scale": s}`` scales the active
    LoRAs for that call (:meth:`LoraSupport.lora_scale`)."""

    @functools.wraps(call)
    def wrapper(self: LoraSupport, *args: Any, **kwargs: Any) -> Any:
        with self.lora_scale(kwargs.get("cross_attention_kwargs")):
            return call(self, *args, **kwargs)

    return wrapper


class LoraSupport:
    """Mixed into the pipelines; needs ``self.components``."""

    components: PipelineComponents

    def _lora(self) -> LoraState:
        state = self.__dict__.get("_lora_state")
        if state is None:
            state = self.__dict__["_lora_state"] = LoraState()
        return state

    def load_lora_weights(self, pretrained_model_name_or_path_or_dict: str | os.PathLike | Mapping[str, Any],
                          adapter_name: str | None = None) -> None:
        """Load a LoRA (.safetensors path, folder, or state dict; kohya, diffusers or peft layout) as
        ``adapter_name`` and make it the only active adapter, with weight 1, as diffusers does."""
        state = self._lora()
        name = adapter_name or f"default_{len(state.adapters)}"
        if name in state.adapters:
            raise ValueError(f"adapter name {name!r} is already in use; pick another or delete_adapters first")
        matched = self.match_lora(pretrained_model_name_or_path_or_dict)
        source = pretrained_model_name_or_path_or_dict if not isinstance(pretrained_model_name_or_path_or_dict, Mapping) else "<dict>"
        for part, assignments in matched.items():
            slots = self._slots(part)
            if slots:
                check_fits(assignments, slots, str(source))
        state.adapters[name] = matched
        state.loads += 1
        state.serials[name] = state.loads
        state.active = {name: 1.0}
        logger.info("loaded LoRA %s as %r: %s", source, name, {p: len(a) for p, a in matched.items()})
        self._apply_lora()

    def match_lora(self, source: str | os.PathLike | Mapping[str, Any]) -> dict[str, list[Assignment]]:
        """Parse a LoRA (.safetensors, folder, state dict, or a .lora file made for this model) and match its
        layers to this model's weights, per part; raises ValueError if any layer does not fit."""
        self._require_float_weights("LoRAs")
        return match_lora_to_model(self.components.folder, source)

    def _require_float_weights(self, what: str) -> None:
        precision = folder_precision(self.components.folder)
        if precision not in FLOAT_WEIGHT_PRECISIONS:
            raise ValueError(f"{self.components.folder} holds {precision} weights (ortdiffusion quantize); {what} need "
                             "the float32 export: load them there, or convert after merging")

    def set_adapters(self, adapter_names: str | Sequence[str], adapter_weights: float | Sequence[float] | None = None) -> None:
        """Activate ``adapter_names`` with ``adapter_weights`` (default 1.0 each); the deltas add up."""
        state = self._lora()
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        unknown = [n for n in names if n not in state.adapters]
        if unknown:
            raise ValueError(f"unknown adapters {unknown}; loaded: {sorted(state.adapters)}")
        if adapter_weights is None:
            weights = [1.0] * len(names)
        elif isinstance(adapter_weights, (int, float)):
            weights = [float(adapter_weights)] * len(names)
        else:
            weights = [float(w) for w in adapter_weights]
        if len(weights) != len(names):
            raise ValueError(f"{len(names)} adapters but {len(weights)} adapter_weights")
        state.active = dict(zip(names, weights))
        self._apply_lora()

    @contextmanager
    def lora_scale(self, cross_attention_kwargs: Mapping[str, Any] | None) -> Iterator[None]:
        """Within the block, every active adapter's weight times ``cross_attention_kwargs["scale"]`` (diffusers'
        LoRA scale of a call, for the UNet and the text encoder alike), restored afterwards. Keys other than
        "scale" are refused (they would reach diffusers' attention processors, which ortdiffusion has not).
        The adapters are shared by the pipeline: calls with different scales should not run at once."""
        kwargs = dict(cross_attention_kwargs or {})
        unknown = sorted(k for k in kwargs if k != "scale")
        if unknown:
            raise ValueError(f"cross_attention_kwargs: ortdiffusion supports only 'scale' (the LoRA scale), got {unknown}")
        scale = kwargs.get("scale", 1.0)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not np.isfinite(scale):
            raise ValueError(f"cross_attention_kwargs['scale'] must be a finite number, got {scale!r}")
        state = self._lora()
        if scale == 1.0 or not state.active or not state.enabled:
            yield
            return
        previous = dict(state.active)
        state.active = {name: weight * float(scale) for name, weight in previous.items()}
        self._apply_lora()
        try:
            yield
        finally:
            state.active = previous
            self._apply_lora()

    def get_active_adapters(self) -> list[str]:
        """Names of the active adapters."""
        return list(self._lora().active)

    def get_list_adapters(self) -> dict[str, list[str]]:
        """Loaded adapters per model part."""
        result: dict[str, list[str]] = {}
        for name, parts in self._lora().adapters.items():
            for part in parts:
                result.setdefault(part, []).append(name)
        return result

    def disable_lora(self) -> None:
        """Run with the base weights (adapters stay loaded; enable_lora brings them back)."""
        self._lora().enabled = False
        self._apply_lora()

    def enable_lora(self) -> None:
        """Undo :meth:`disable_lora`."""
        self._lora().enabled = True
        self._apply_lora()

    def delete_adapters(self, adapter_names: str | Sequence[str]) -> None:
        """Forget adapters (and deactivate them)."""
        state = self._lora()
        for name in [adapter_names] if isinstance(adapter_names, str) else adapter_names:
            if name not in state.adapters:
                raise ValueError(f"unknown adapter {name!r}; loaded: {sorted(state.adapters)}")
            del state.adapters[name]
            state.active.pop(name, None)
        self._apply_lora()

    def unload_lora_weights(self) -> None:
        """Remove every adapter and return to the exported weights."""
        state = self._lora()
        state.adapters.clear()
        state.active.clear()
        self._apply_lora()

    def enable_live_lora(self, parts: Sequence[str] = LORA_PARTS) -> None:
        """Switch LoRAs in place from now on: the weights loaded adapters touch are fed to the sessions from
        buffers this pipeline owns, and set_adapters / disable_lora / enable_lora rewrite only those buffers
        (no session is recreated; loading an adapter that touches new weights recreates it once). Do not
        switch while another thread is generating with this pipeline."""
        unknown = [p for p in parts if p not in LORA_PARTS]
        if unknown:
            raise ValueError(f"unknown model parts {unknown}; choose from {LORA_PARTS}")
        state = self._lora()
        state.live_parts = set(parts)
        state.applied.clear()
        self._apply_lora()

    def load_controlnet_weights(self, source: str | os.PathLike, index: int = 0) -> None:
        """Swap the weights of ControlNet ``index`` fused into this export for those of another SD 1.x
        ControlNet (a diffusers folder or its .safetensors), without re-exporting. LoRAs stay applied."""
        from ortdiffusion.pipelines.controlnet_weights import controlnet_overrides, controlnet_state

        self._require_float_weights("ControlNet weight swaps")
        overrides = controlnet_overrides(self.components.part_folder("unet"), index, controlnet_state(source))
        state = self._lora()
        state.replaced.setdefault("unet", {}).update(overrides)
        state.replaced_version += 1
        logger.info("ControlNet %d weights replaced from %s (%d tensors)", index, source, len(overrides))
        self._apply_lora()

    def _slots(self, part: str) -> dict[str, Slot]:
        state = self._lora()
        if part not in state.slots:
            state.slots[part] = read_slots(self.components.part_folder(part), part)
        return state.slots[part]

    def _apply_swap(self, part: str) -> None:
        """Swap mode (the export has LoRA slots): the slots' factors (and any swapped weights) are live
        inputs; the active LoRAs are written into them, stacked along the rank axis."""
        state = self._lora()
        slots = self._slots(part)
        replaced = state.replaced.get(part, {})
        names = {n for slot in slots.values() for n in (slot.a, slot.b)} | set(replaced)
        previous = state.live.get(part)
        live = self._live_weights(part, names | (previous.names if previous is not None else set()))
        active = [n for n in state.active if state.enabled and state.adapters[n].get(part)]
        base = self._base_weights(part)
        shapes = {n: tuple(base[n].shape) for n in names}
        arrays = fill_slots(slots, [(state.adapters[n][part], state.active[n]) for n in active], shapes)
        arrays.update({k: np.asarray(v, dtype=np.float32) for k, v in replaced.items()})
        arrays.update({n: np.asarray(base[n], dtype=np.float32) for n in live.names - set(arrays)})  # swaps undone
        for name, array in arrays.items():
            buffer = live.buffers[name]
            buffer[...] = array.T if live.graph.transposed[name] else array

    def _base_weights(self, part: str) -> Mapping[str, np.ndarray]:
        """The weights of ``part``'s model file (zero-copy views, read once)."""
        state = self._lora()
        if part not in state.base:
            state.base[part] = initializers.load(self.components.part_folder(part) / MODEL_FILE)
        return state.base[part]

    def _live_weights(self, part: str, names: set[str]) -> LiveWeights:
        """``part``'s live weights, rebuilt (with its session) unless they already feed every one of ``names`` at
        the shape it has now (a weight swap may change a shape: textual inversion grows the token table)."""
        state = self._lora()
        base = self._base_weights(part)
        replaced = state.replaced.get(part, {})
        shapes = {n: tuple(np.shape(replaced[n] if n in replaced else base[n])) for n in names}
        live = state.live.get(part)

        def fed_shape(name: str) -> tuple[int, ...] | None:
            shape = live.graph.shapes.get(name) if live is not None else None
            return shape[::-1] if shape is not None and live.graph.transposed[name] else shape

        if live is None or not names <= live.names or any(fed_shape(n) != shape for n, shape in shapes.items()):
            resized = {n: shape for n, shape in shapes.items() if shape != tuple(base[n].shape)}
            graph = build_live_graph(self.components.part_folder(part) / MODEL_FILE, names, resized)
            live = LiveWeights(graph, base, replaced)
            state.live[part] = live
            self.components.reload_live(part, live.graph.model, live.feeds)
        return live

    def _apply_live(self, part: str) -> None:
        """Live mode for ``part``: make sure every weight any loaded adapter (or a weight swap) touches is a
        live input, then rewrite the buffers whose content changed."""
        state = self._lora()
        needed = {a.target.initializer for parts in state.adapters.values() for a in parts.get(part, [])}
        needed |= set(state.replaced.get(part, {}))
        live = state.live.get(part)
        if not needed:
            if live is not None:
                del state.live[part]
                self.components.reload(part, None)
            return
        live = self._live_weights(part, needed | (live.names if live is not None else set()))
        names = [n for n in state.active if state.enabled and state.adapters[n].get(part)]
        live.update([(state.adapters[n][part], state.active[n]) for n in names], state.replaced.get(part))

    def _apply_lora(self) -> None:
        """Recreate the sessions whose set of active LoRA layers changed (merge mode), or rewrite the live
        buffers in place (live mode)."""
        state = self._lora()
        for part in LORA_PARTS:
            if self._slots(part):
                self._apply_swap(part)
                continue
            if part in state.live_parts:
                self._apply_live(part)
                continue
            names = [n for n in state.active if state.enabled and state.adapters[n].get(part)]
            plan = [(state.adapters[n][part], state.active[n]) for n in names]
            replaced = state.replaced.get(part, {})
            key = (tuple((n, state.serials[n], state.active[n]) for n in names), state.replaced_version if replaced else 0)
            if state.applied.get(part, ((), 0)) == key:
                continue
            overrides = dict(replaced)
            if plan:
                overrides.update(merged_weights(self._base_weights(part), plan))
            self.components.reload(part, overrides or None)
            state.applied[part] = key
