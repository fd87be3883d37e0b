"""Swapping an export's VAE for another SD 1.x VAE file (the ft-MSE VAE is a common swap) without re-export: the
file's parameters (diffusers' or the LDM layout, checkpoints/ldm_vae.py) replace the ``vae.``-named weights of the
VAE decoder and encoder sessions, as ControlNet weights are swapped."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ortdiffusion import initializers
from ortdiffusion.checkpoints.ldm_vae import is_ldm_vae, ldm_vae_to_diffusers
from ortdiffusion.checkpoints.weights_file import read_weights_file
from ortdiffusion.model_folder import MODEL_FILE
from ortdiffusion.pipelines.components import PipelineComponents

logger = logging.getLogger(__name__)

VAE_PREFIX = "vae."  # the exporter names the VAE parts' weights "vae." + diffusers' parameter name
VAE_PARTS = ("vae_decoder", "vae_encoder")
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def vae_state(source: str | os.PathLike) -> dict[str, np.ndarray]:
    """A VAE's parameters under diffusers' names, from a .safetensors file (a standalone VAE in diffusers' or the
    LDM layout, or a whole LDM checkpoint's ``first_stage_model.``) or a diffusers ``vae/`` folder. Pickles refused."""
    path = Path(source)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    tensors = read_weights_file(path, "VAE")
    if not tensors:
        raise ValueError(f"{path} holds no tensors")
    return ldm_vae_to_diffusers(tensors) if is_ldm_vae(tensors) else tensors


def vae_overrides(components: PipelineComponents, tensors: Mapping[str, np.ndarray], source: str) -> dict[str, dict[str, np.ndarray]]:
    """part -> {initializer: new weight} for the VAE decoder and encoder of ``components``' folder. Every ``vae.``
    weight of both parts must get a value of its shape, and every VAE parameter of the file a place (else: a VAE of
    another architecture, or an export that does not name its VAE weights, as optimum's)."""
    stored = {part: initializers.load(components.part_folder(part) / MODEL_FILE) for part in VAE_PARTS}
    for part, weights in stored.items():
        converted = next((name for name, value in weights.items()
                          if name.startswith(VAE_PREFIX) and np.issubdtype(np.asarray(value).dtype, np.integer)), None)
        if converted is not None:
            raise ValueError(f"{components.part_folder(part)} holds {np.asarray(weights[converted]).dtype} weights "
                             f"(e.g. {converted}: ortdiffusion quantize converted it); VAE swaps need float weights: "
                             "swap on the float32 export, or convert it again after baking the VAE in with "
                             "`ortdiffusion export --vae`")
    wanted = {name: part for part, weights in stored.items() for name in weights if name.startswith(VAE_PREFIX)}
    if not wanted:
        raise ValueError(f"{components.folder}: its VAE weights are not named after diffusers' parameters (an optimum "
                         "export?); export the model again with `ortdiffusion export` to swap VAEs")
    given = {VAE_PREFIX + key: value for key, value in tensors.items()}
    missing = sorted(set(wanted) - set(given))
    unexpected = sorted(set(given) - set(wanted))
    wrong = [f"{name[len(VAE_PREFIX):]}: {list(np.shape(given[name]))} vs {list(stored[wanted[name]][name].shape)}"
             for name in wanted if name in given and tuple(np.shape(given[name])) != tuple(stored[wanted[name]][name].shape)]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source} does not fit this model's VAE (another architecture?): {len(missing)} missing (e.g. "
            f"{[m[len(VAE_PREFIX):] for m in missing[:2]]}), {len(unexpected)} unexpected (e.g. "
            f"{[u[len(VAE_PREFIX):] for u in unexpected[:2]]}), {len(wrong)} of another shape (e.g. {wrong[:2]})"
        )
    out: dict[str, dict[str, np.ndarray]] = {part: {} for part in VAE_PARTS}
    for name, part in wanted.items():
        out[part][name] = np.ascontiguousarray(given[name], dtype=np.float32)
    return out


class VaeWeightsSupport:
    """Mixed into the pipelines; needs ``self.components``."""

    components: PipelineComponents

    def load_vae_weights(self, source: str | os.PathLike) -> None:
        """Use the VAE in ``source`` (.safetensors in diffusers' or the LDM layout, or a diffusers ``vae/`` folder)
        for decoding and encoding from now on, without re-export. ValueError for a VAE that does not fit."""
        overrides = vae_overrides(self.components, vae_state(source), str(source))
        for part, weights in overrides.items():
            if getattr(self.components, part) is not None:
                self.components.reload(part, weights)
        self.__dict__["_vae_overrides"] = overrides
        logger.info("VAE weights replaced from %s", source)
