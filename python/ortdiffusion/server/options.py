"""AUTOMATIC1111's ``/sdapi/v1/options``: the settings it reports and takes. Two change what ortdiffusion
generates: ``sd_model_checkpoint`` (the model; a name or ``name [hash]`` title) and
``CLIP_stop_at_last_layers`` (1 = the last layer; 2 = diffusers' clip_skip 1). The rest are kept and reported
back so clients that set them keep working."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ortdiffusion.server.catalog import Catalog
from ortdiffusion.server.errors import RequestError

DEFAULTS: dict[str, Any] = {
    "sd_model_checkpoint": None, "CLIP_stop_at_last_layers": 1, "sd_vae": "Automatic", "samples_format": "png",
    "eta_noise_seed_delta": 0, "sd_checkpoint_hash": "", "sd_lora": "None", "outdir_samples": "",
    "save_images_default": False, "enable_pnginfo": True, "show_progress_every_n_steps": 10, "live_previews_enable": False,
}


class Options:
    """The current options, shared by the HTTP threads (guarded by a lock)."""

    def __init__(self, catalog: Catalog, model: str | None) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        entry = catalog.model(model or "default", "model")
        self._values = {**DEFAULTS, "sd_model_checkpoint": entry.title, "sd_checkpoint_hash": entry.hash}

    def get(self) -> dict[str, Any]:
        """A copy of every option."""
        with self._lock:
            return dict(self._values)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` after checking the two that matter (RequestError naming the field)."""
        values = self.resolve(changes)
        with self._lock:
            self._values.update(values)

    def resolve(self, changes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """The current options with ``changes`` checked and applied, as a new dict (also how a request's
        ``override_settings`` are read; errors name the field as ``prefix`` + key)."""
        values = self.get()
        for key, value in changes.items():
            if key == "sd_model_checkpoint":
                entry = self.catalog.model(str(value), prefix + key)
                values[key], values["sd_checkpoint_hash"] = entry.title, entry.hash
            elif key == "CLIP_stop_at_last_layers":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
                    raise RequestError(prefix + key, f"{prefix + key}: must be an integer from 1 to 12, got {value!r}")
                values[key] = value
            else:
                values[key] = value
        return values
