"""Scheduler configs as diffusers has them: a read-only dict with attribute access, read from and
written to ``scheduler_config.json``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ortdiffusion._arrays import is_torch_tensor

CONFIG_NAME = "scheduler_config.json"


class FrozenConfig(dict):
    """A read-only ``dict`` whose keys are also attributes (like diffusers' ``FrozenDict``), so both
    ``config.num_train_timesteps`` and ``config["num_train_timesteps"]`` work and the object can be
    passed wherever diffusers expects a config dict."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("scheduler configs are read-only; build a new scheduler with from_config(config, key=value)")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only


def to_jsonable(value: Any) -> Any:
    """Turn config values (numpy/torch arrays, numpy scalars) into plain JSON types."""
    if is_torch_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def config_to_json(config: Mapping[str, Any]) -> str:
    """Serialise a config mapping for the native parser (strict JSON: a non-finite float such as
    DPM-Solver's ``lambda_min_clipped=-inf`` becomes null, which the parser reads as that default); raises
    TypeError for unserialisable values."""
    def strict(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    try:
        return json.dumps({str(k): strict(to_jsonable(v)) for k, v in config.items()}, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"scheduler config values must be JSON-serialisable: {e}") from e


def find_config_file(path: str | os.PathLike, subfolder: str | None) -> Path:
    """Locate ``scheduler_config.json`` for ``from_pretrained(path, subfolder)``: a JSON file given
    directly, ``path/subfolder/scheduler_config.json``, or (no subfolder) ``path/scheduler_config.json``
    then ``path/scheduler/scheduler_config.json``. Raises FileNotFoundError listing what was tried."""
    root = Path(path)
    if root.is_file():
        return root
    candidates = (
        [root / subfolder / CONFIG_NAME] if subfolder else [root / CONFIG_NAME, root / "scheduler" / CONFIG_NAME]
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"no {CONFIG_NAME} found for {str(root)!r} (tried {tried})")


def unknown_keys(config: Mapping[str, Any], known: Iterable[str]) -> list:
    """Keys of ``config`` that are not in ``known`` (private ``_...`` keys excluded)."""
    known_set = set(known)
    return sorted(k for k in config if k not in known_set and not str(k).startswith("_"))
