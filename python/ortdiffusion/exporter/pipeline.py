"""Export a local diffusers Stable Diffusion 1.x folder (optionally with ControlNets) to ONNX, in
optimum's folder layout, with a ``weights_map.json`` beside each graph that has swappable weights.

The output is written into a temporary sibling folder and renamed into place only when complete."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ortdiffusion.atomic_file import (
    check_output_folder,
    move_folder_into_place,
    publish_permissions,
    staging_folder,
)
from ortdiffusion.deep_cache import add_deep_cache
from ortdiffusion.exporter import folder as layout
from ortdiffusion.exporter.fused_attention import use_fused_attention
from ortdiffusion.exporter.onnx_graph import CUSTOM_OPSETS, DEFAULT_OPSET, export_module
from ortdiffusion.exporter.single_file import load_checked_state, single_file_to_diffusers
from ortdiffusion.exporter.single_file_controlnet import controlnet_file_to_diffusers
from ortdiffusion.exporter.tiny_vae import export_tiny_vae_decoder
from ortdiffusion.exporter.weights_map import build_weights_map, write_weights_map
from ortdiffusion.exporter.wrappers import (
    GuidanceConditionedUNetForExport,
    TextEncoderForExport,
    UNetForExport,
    UNetWithControlNetsForExport,
    VaeDecoderForExport,
    VaeEncoderForExport,
)
from ortdiffusion.model_folder import TINY_VAE_DECODER

logger = logging.getLogger(__name__)

# Dummy sizes for tracing: batch 2 (classifier-free guidance) and a latent side that is NOT a multiple of
# 2**num_upsamplers, so the UNet's traced graph takes diffusers' `upsample_size` branch and works at any
# size (a multiple-of-8 dummy would bake in scale-factor-2 upsampling, valid only at multiples of 64 px).
DUMMY_BATCH = 2
DUMMY_LATENT_SIDE = 9
DUMMY_SEQUENCE = 77


@dataclass
class ExportReport:
    """What was exported where, and how long each part took (seconds)."""

    output: Path
    components: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _parameter_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def _export_text_encoder(source: Path, out: Path, opset: int) -> None:
    from transformers import CLIPTextModel

    model = CLIPTextModel.from_pretrained(source / "text_encoder", attn_implementation="eager").float()
    wrapper = TextEncoderForExport(model)
    ids = torch.zeros((DUMMY_BATCH, DUMMY_SEQUENCE), dtype=torch.int64)
    graph = export_module(
        wrapper, [ids], ["input_ids"], ["last_hidden_state", "pooler_output", "normed_hidden_states"],
        {"input_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"},
         "pooler_output": {0: "batch"}, "normed_hidden_states": {1: "batch", 2: "sequence"}},
        out / "model.onnx", external_data=True, opset=opset,  # external: LoRA replaces weights zero-copy
    )
    write_weights_map(out, build_weights_map(graph, {"text_encoder": _parameter_shapes(model)}))
    layout.copy_config(source / "text_encoder", out, "config.json")


def _export_vae(source: Path, encoder_out: Path, decoder_out: Path, opset: int, vae_file: Path | None = None) -> None:
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(source / "vae").float()
    if vae_file is not None:  # another VAE baked in (diffusers or LDM layout, pipelines/vae_weights.py)
        import numpy as np

        from ortdiffusion.pipelines.vae_weights import vae_state

        state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in vae_state(vae_file).items()}
        load_checked_state(vae, state, vae_file, "VAE")
    side = DUMMY_LATENT_SIDE * 2 ** (len(vae.config.block_out_channels) - 1)
    image = torch.randn(1, vae.config.in_channels, side, side)
    export_module(
        VaeEncoderForExport(vae), [image], ["sample"], ["latent_parameters"],
        {"sample": {0: "batch", 2: "height", 3: "width"},
         "latent_parameters": {0: "batch", 2: "latent_height", 3: "latent_width"}},
        encoder_out / "model.onnx", external_data=False, opset=opset,
    )
    latents = torch.randn(1, vae.config.latent_channels, DUMMY_LATENT_SIDE, DUMMY_LATENT_SIDE)
    export_module(
        VaeDecoderForExport(vae), [latents], ["latent_sample"], ["sample"],
        {"latent_sample": {0: "batch", 2: "latent_height", 3: "latent_width"},
         "sample": {0: "batch", 2: "height", 3: "width"}},
        decoder_out / "model.onnx", external_data=False, opset=opset,
    )
    for out in (encoder_out, decoder_out):
        layout.copy_config(source / "vae", out, "config.json")


# What --lora-rank adds LoRA slots to: attention projections, feed-forward and the transformer's in/out projections
DEFAULT_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")
ATTENTION_KINDS = ("fused", "plain")


def _lora_slots(unet: torch.nn.Module, rank: int, targets: Sequence[str]) -> dict[str, dict]:
    """Give ``unet`` zero-initialised LoRA layers (peft, alpha = rank so the scale is 1) on ``targets``;
    returns module path -> {"A", "B", "rank"} initializer names for weights_map.json."""
    from peft import LoraConfig

    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=list(targets), init_lora_weights=True))
    slots = {}
    for name, _ in unet.named_parameters():
        if name.endswith(".lora_A.default.weight"):
            module = name[: -len(".lora_A.default.weight")]
            slots[module] = {"A": f"unet.{name}", "B": f"unet.{module}.lora_B.default.weight", "rank": rank}
    if not slots:
        raise ValueError(f"--lora-targets {list(targets)} match no module of the UNet")
    return slots


def _export_unet(source: Path, controlnet_dirs: Sequence[Path], out: Path, opset: int, lora_rank: int = 0,
                 lora_targets: Sequence[str] = DEFAULT_LORA_TARGETS, attention: str = "fused", deep_cache: bool = False
                 ) -> None:
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(source / "unet").float()
    custom_opsets = CUSTOM_OPSETS if attention == "fused" else None
    if attention == "fused":
        use_fused_attention(unet)
    config = unet.config
    slots = _lora_slots(unet, lora_rank, lora_targets) if lora_rank > 0 else {}
    sample = torch.randn(DUMMY_BATCH, config.in_channels, DUMMY_LATENT_SIDE, DUMMY_LATENT_SIDE)
    # float32, as optimum exports it: Euler-family schedulers step through fractional timesteps
    timestep = torch.full((DUMMY_BATCH,), 981.0, dtype=torch.float32)
    text = torch.randn(DUMMY_BATCH, DUMMY_SEQUENCE, config.cross_attention_dim)
    axes = {
        "sample": {0: "batch", 2: "height", 3: "width"},
        "timestep": {0: "batch"},
        "encoder_hidden_states": {0: "batch", 1: "sequence"},
    }
    modules = {"unet": _parameter_shapes(unet)}
    guidance_dim = config.get("time_cond_proj_dim")
    if guidance_dim is not None and controlnet_dirs:
        raise ValueError(
            f"{source / 'unet'} is distilled with a guidance condition (time_cond_proj_dim={guidance_dim}, an "
            "LCM UNet); fusing ControlNets into it is not supported: export it without --controlnet"
        )
    if guidance_dim is not None:
        # LCM-distilled UNet: the guidance-scale embedding enters as timestep_cond (batch, time_cond_proj_dim)
        guidance = torch.randn(DUMMY_BATCH, guidance_dim)
        graph = export_module(
            GuidanceConditionedUNetForExport(unet), [sample, timestep, text, guidance], [*axes, "timestep_cond"],
            ["out_sample"], {**axes, "timestep_cond": {0: "batch"}, "out_sample": {0: "batch", 2: "height", 3: "width"}},
            out / "model.onnx", external_data=True, opset=opset, custom_opsets=custom_opsets,
        )
    elif not controlnet_dirs:
        graph = export_module(
            UNetForExport(unet), [sample, timestep, text], list(axes), ["out_sample"],
            {**axes, "out_sample": {0: "batch", 2: "height", 3: "width"}},
            out / "model.onnx", external_data=True, opset=opset, custom_opsets=custom_opsets,
        )
    else:
        controlnets = [ControlNetModel.from_pretrained(d).float() for d in controlnet_dirs]
        if attention == "fused":
            for net in controlnets:
                use_fused_attention(net)
        for k, net in enumerate(controlnets):
            modules[f"controlnets.{k}"] = _parameter_shapes(net)
            if net.config.cross_attention_dim != config.cross_attention_dim:
                raise ValueError(
                    f"ControlNet {controlnet_dirs[k]} has cross_attention_dim {net.config.cross_attention_dim}, "
                    f"the UNet {config.cross_attention_dim}: it was trained for another base model"
                )
        channels = {net.config.conditioning_channels for net in controlnets}
        if len(channels) != 1:
            raise ValueError(f"the ControlNets take different conditioning channels {sorted(channels)}; they cannot share one input")
        # the conditioning embedding downsamples by 2 ** (len(conditioning_embedding_out_channels) - 1)
        factor = 2 ** (len(controlnets[0].config.conditioning_embedding_out_channels) - 1)
        side = DUMMY_LATENT_SIDE * factor
        cond = torch.rand(len(controlnets), DUMMY_BATCH, channels.pop(), side, side)
        residuals = len(controlnets[0].controlnet_down_blocks) + 1  # the down blocks' and the mid block's
        scale = torch.ones(len(controlnets), DUMMY_BATCH, residuals)
        graph = export_module(
            UNetWithControlNetsForExport(unet, controlnets), [sample, timestep, text, cond, scale],
            [*axes, "controlnet_cond", "conditioning_scale"], ["noise_pred"],
            {**axes, "controlnet_cond": {1: "batch", 3: "image_height", 4: "image_width"},
             "conditioning_scale": {1: "batch"}, "noise_pred": {0: "batch", 2: "height", 3: "width"}},
            out / "model.onnx", external_data=True, opset=opset, custom_opsets=custom_opsets,
        )
        for k, d in enumerate(controlnet_dirs):
            layout.copy_config(Path(d), out / f"controlnet_{k}", "config.json")
    if deep_cache:
        add_deep_cache(out)
    weights_map = build_weights_map(graph, modules)
    if slots:
        weights_map["lora_slots"] = {"unet": slots}
    write_weights_map(out, weights_map)
    layout.copy_config(source / "unet", out, "config.json")


def _latent_channels(source: Path) -> int:
    """The latent channels of the diffusers folder's VAE (diffusers' default 4 when its config omits them)."""
    return int(json.loads((source / "vae" / "config.json").read_text(encoding="utf-8")).get("latent_channels", 4))


def _check_source(source: Path, controlnet_dirs: Sequence[Path]) -> None:
    needed = ["unet", "vae", "text_encoder", "tokenizer", "scheduler/scheduler_config.json"]
    missing = [p for p in needed if not (source / p).exists()]
    if missing:
        raise FileNotFoundError(f"{source} is not a diffusers Stable Diffusion folder: missing {missing}")
    for d in controlnet_dirs:
        config_path = Path(d) / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"--controlnet {d}: not a diffusers ControlNet folder (no config.json)")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("global_pool_conditions"):
            # diffusers runs such ControlNets in guess mode (conditional half only); the fused graph does not
            raise ValueError(f"--controlnet {d}: ControlNets with global_pool_conditions (guess mode) are not supported")


def export_pipeline(
    model: str | Path,
    output: str | Path,
    controlnets: Sequence[str | Path] = (),
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    lora_rank: int = 0,
    lora_targets: Sequence[str] = DEFAULT_LORA_TARGETS,
    attention: str = "fused",
    config: str | Path | None = None,
    vae: str | Path | None = None,
    extract_ema: bool = False,
    deep_cache: bool = False,
    tiny_vae: str | Path | None = None,
) -> ExportReport:
    """Export the diffusers folder ``model`` (and ``controlnets``, fused into the UNet graph: diffusers folders or
    single-file ControlNets in the original layout, single_file_controlnet.py) to ``output``.
    ``model`` may also be a single-file SD 1.x checkpoint (.safetensors in the LDM layout; single_file.py),
    converted offline first, its configs from ``config`` (a diffusers folder of configs) where given, its UNet's EMA
    weights with ``extract_ema`` (else the non-EMA ones, as diffusers). ``vae``: a VAE
    file (diffusers' or the LDM layout) baked in instead of the model's own.

    Layout (optimum's): ``model_index.json``, ``text_encoder/model.onnx``, ``unet/model.onnx`` +
    ``unet/model.onnx_data``, ``vae_encoder/model.onnx`` (outputs the latent distribution's parameters),
    ``vae_decoder/model.onnx``, ``tokenizer/`` with ``tokenizer.json``, ``scheduler/scheduler_config.json``;
    ``weights_map.json`` beside the UNet and text encoder graphs. ``lora_rank`` > 0 adds zero LoRA slots of
    that rank to the UNet's ``lora_targets`` (swap mode: LoRAs then fill the slots, up to that total rank).
    ``attention``: "fused" exports the UNet's and ControlNets' attention as ONNX Runtime's
    MultiHeadAttention contrib op (fused_attention.py), "plain" as the explicit MatMul/Softmax chain.
    ``deep_cache``: the UNet graph also outputs DeepCache's deep features (deep_cache/graphs.py), which the
    pipelines' ``cache_interval`` needs; not with ControlNets. ``tiny_vae``: a diffusers AutoencoderTiny folder
    (TAESD) whose decoder is exported as ``vae_decoder_tiny/`` (tiny_vae.py)."""
    if deep_cache and controlnets:
        raise ValueError("deep_cache does not apply to a UNet with ControlNets fused in (a ControlNet adds a residual "
                         "to every skip connection, so even the shallow branch would run the whole ControlNet); "
                         "export without one or the other")
    if attention not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
    source, output = Path(model), Path(output)
    if not source.is_dir() and source.suffix:  # a single file: converted to a diffusers folder, then exported
        check_output_folder(output, overwrite)
        with tempfile.TemporaryDirectory(prefix="ortdiffusion-single-file-") as scratch:
            single_file_to_diffusers(source, Path(scratch) / "diffusers", config, extract_ema)
            return export_pipeline(Path(scratch) / "diffusers", output, controlnets, opset, overwrite, lora_rank,
                                   lora_targets, attention, vae=vae, deep_cache=deep_cache, tiny_vae=tiny_vae)
    if config is not None or extract_ema:
        raise ValueError("config and extract_ema apply to single-file checkpoints only (a diffusers folder has its own "
                         "configs and weights)")
    if any(Path(c).is_file() for c in controlnets):  # single-file ControlNets: converted to folders, then exported
        _check_source(source, [])
        check_output_folder(output, overwrite)
        unet_config = json.loads((source / "unet" / "config.json").read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory(prefix="ortdiffusion-controlnets-") as scratch:
            folders = []
            for k, c in enumerate(map(Path, controlnets)):
                if c.is_file():
                    controlnet_file_to_diffusers(c, Path(scratch) / f"controlnet_{k}", unet_config)
                    c = Path(scratch) / f"controlnet_{k}"
                folders.append(c)
            return export_pipeline(source, output, folders, opset, overwrite, lora_rank, lora_targets, attention,
                                   vae=vae, tiny_vae=tiny_vae)
    controlnet_dirs = [Path(c) for c in controlnets]
    _check_source(source, controlnet_dirs)
    check_output_folder(output, overwrite)
    report = ExportReport(output=output)
    staging = staging_folder(output)
    try:
        parts = {name: staging / name for name in (layout.TEXT_ENCODER, layout.UNET, layout.VAE_ENCODER, layout.VAE_DECODER)}
        for part in parts.values():
            part.mkdir()
        with warnings.catch_warnings():
            # The tracer warns about Python branches on shapes; the dummy sizes above choose those branches.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # ...and about ops it cannot constant-fold or index patterns it checked for (non-negative here).
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
            steps = [
                ("text_encoder", lambda: _export_text_encoder(source, parts[layout.TEXT_ENCODER], opset)),
                ("vae", lambda: _export_vae(source, parts[layout.VAE_ENCODER], parts[layout.VAE_DECODER], opset,
                                            Path(vae) if vae is not None else None)),
                ("unet", lambda: _export_unet(source, controlnet_dirs, parts[layout.UNET], opset, lora_rank, lora_targets,
                                                  attention, deep_cache)),
            ]
            if tiny_vae is not None:
                steps.append(("vae_decoder_tiny", lambda: export_tiny_vae_decoder(
                    tiny_vae, staging / TINY_VAE_DECODER, _latent_channels(source), opset)))
            for name, run in steps:
                start = time.perf_counter()
                run()
                report.seconds[name] = time.perf_counter() - start
                logger.info("exported %s in %.1f s", name, report.seconds[name])
        layout.copy_tokenizer(source / "tokenizer", staging / layout.TOKENIZER)
        layout.copy_config(source / "scheduler", staging / layout.SCHEDULER, "scheduler_config.json")
        source_index = layout.read_model_index(source)
        class_name = source_index.get("_class_name", "StableDiffusionPipeline")
        if controlnet_dirs:
            class_name = "StableDiffusionControlNetPipeline"
        layout.write_model_index(staging, class_name, {"_ortdiffusion_controlnets": len(controlnet_dirs)})
        publish_permissions(staging)
        move_folder_into_place(staging, output, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.components = {name: output / name for name in parts}
    return report
