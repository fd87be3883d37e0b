"""A tiny VAE decoder beside an export: diffusers' ``AutoencoderTiny`` (TAESD, a distilled decoder people use
for fast decoding and live previews) exported as ``vae_decoder_tiny/``, which the pipelines run instead of the
model's own decoder when asked (``vae_decoder="tiny"``, ``--vae-decoder tiny``).

AutoencoderTiny decodes the latents the UNet works in (its ``scaling_factor`` is 1: the pipelines divide by
the config's scaling factor before decoding, as diffusers' do) and outputs pictures in [-1, 1], as the
AutoencoderKL decoder graph does."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch

from ortdiffusion.atomic_file import publish_permissions
from ortdiffusion.exporter import folder as layout
from ortdiffusion.exporter.onnx_graph import DEFAULT_OPSET, export_module
from ortdiffusion.exporter.wrappers import VaeDecoderForExport
from ortdiffusion.model_folder import TINY_VAE_DECODER, read_config

DUMMY_LATENT_SIDE = 9


def _load_tiny_vae(source: Path):
    """diffusers' AutoencoderTiny from a folder in diffusers' layout (config.json + weights), with clear errors."""
    from diffusers import AutoencoderTiny

    config = read_config(source)
    if not config:
        raise FileNotFoundError(f"--tiny-vae {source}: no config.json (a diffusers AutoencoderTiny folder, e.g. TAESD)")
    if config.get("_class_name") not in (None, "AutoencoderTiny"):
        raise ValueError(f"--tiny-vae {source}: config.json describes a {config['_class_name']}, not an AutoencoderTiny")
    return AutoencoderTiny.from_pretrained(source).float().eval()


def export_tiny_vae_decoder(source: str | Path, out: Path, latent_channels: int | None = None,
                            opset: int = DEFAULT_OPSET) -> None:
    """Export the decoder of the AutoencoderTiny folder ``source`` into the new folder ``out`` (model.onnx and
    the config). ``latent_channels``: the model's, checked against the decoder's."""
    source = Path(source)
    vae = _load_tiny_vae(source)
    channels = int(vae.config.latent_channels)
    if latent_channels is not None and channels != latent_channels:
        raise ValueError(f"--tiny-vae {source}: the decoder takes {channels} latent channels, the model's latents "
                         f"have {latent_channels} (a tiny VAE for another model family)")
    out.mkdir(parents=True)
    latents = torch.randn(1, channels, DUMMY_LATENT_SIDE, DUMMY_LATENT_SIDE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        export_module(
            VaeDecoderForExport(vae), [latents], ["latent_sample"], ["sample"],
            {"latent_sample": {0: "batch", 2: "latent_height", 3: "latent_width"},
             "sample": {0: "batch", 2: "height", 3: "width"}},
            out / "model.onnx", external_data=False, opset=opset,
        )
    layout.copy_config(source, out, "config.json")


def add_tiny_vae_decoder(model: str | Path, source: str | Path, overwrite: bool = False) -> Path:
    """Export the AutoencoderTiny folder ``source`` into the exported pipeline ``model`` as its
    ``vae_decoder_tiny/`` (staged, then moved into place); returns that folder."""
    model = Path(model)
    if not (model / "model_index.json").is_file():
        raise FileNotFoundError(f"{model} is not an exported pipeline folder (no model_index.json)")
    target = model / TINY_VAE_DECODER
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    decoder_config = model / layout.VAE_DECODER / "config.json"
    channels = json.loads(decoder_config.read_text(encoding="utf-8")).get("latent_channels") if decoder_config.is_file() else None
    staging = model / f".{TINY_VAE_DECODER}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        export_tiny_vae_decoder(source, staging, channels)
        publish_permissions(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
