"""Tiny random-weight Stable Diffusion 1.x parts built locally (no download), saved as diffusers folders.

Sizes keep every code path of the real architecture (cross-attention down/up blocks, a mid block,
ResNet and attention in the VAE, the real CLIP tokenizer) while exporting and running in seconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DDIMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from ortdiffusion.tokenization import CLIPTokenizer as OurTokenizer

CROSS_ATTENTION_DIM = 32
UNET_KWARGS = {
    "block_out_channels": (32, 64), "layers_per_block": 1, "sample_size": 8, "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"), "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": CROSS_ATTENTION_DIM, "norm_num_groups": 16, "attention_head_dim": 8,
}


def shipped_tokenizer_folder() -> Path:
    """The real CLIP tokenizer files shipped in the package."""
    from importlib import resources

    return Path(str(resources.files("ortdiffusion") / "data" / "clip_tokenizer"))


def _jitter(module: torch.nn.Module, seed: int, scale: float = 0.05) -> None:
    """Perturb every parameter: ControlNet's zero-initialised convolutions would otherwise make its
    residuals exactly zero and any ControlNet test pass trivially; norm weights stop being all ones."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale)


def build_unet(in_channels: int = 4, seed: int = 0, **extra: Any) -> UNet2DConditionModel:
    """A tiny UNet2DConditionModel (9 input channels for inpainting; ``extra`` config such as
    ``time_cond_proj_dim`` for an LCM-distilled UNet, or other block types, overrides UNET_KWARGS)."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(in_channels=in_channels, **{**UNET_KWARGS, **extra})
    _jitter(unet, seed + 100)
    return unet


def build_controlnet(seed: int) -> ControlNetModel:
    """A tiny ControlNet matching :func:`build_unet`, with non-zero output convolutions."""
    torch.manual_seed(seed)
    net = ControlNetModel(
        block_out_channels=UNET_KWARGS["block_out_channels"], layers_per_block=1, in_channels=4,
        down_block_types=UNET_KWARGS["down_block_types"], cross_attention_dim=CROSS_ATTENTION_DIM,
        norm_num_groups=16, attention_head_dim=8, conditioning_embedding_out_channels=(16, 32, 48, 64),
    )
    _jitter(net, seed + 100, scale=0.2)
    return net


def build_pipeline(in_channels: int = 4, seed: int = 0, **unet_extra: Any) -> StableDiffusionPipeline:
    """A tiny diffusers StableDiffusionPipeline with a DDIM scheduler and the real CLIP tokenizer."""
    unet = build_unet(in_channels, seed, **unet_extra)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(16, 16, 32, 32), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=16,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1,
    )
    _jitter(vae, seed + 101)
    torch.manual_seed(seed + 2)
    text_config = CLIPTextConfig(
        vocab_size=49408, hidden_size=CROSS_ATTENTION_DIM, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
        pad_token_id=49407,
    )
    text_encoder = CLIPTextModel(text_config)
    tokenizer = CLIPTokenizer.from_pretrained(shipped_tokenizer_folder())
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_micro_pipeline(seed: int = 7) -> StableDiffusionPipeline:
    """An even smaller pipeline (about 2 MB exported) for fixtures committed to the repository, such as the
    optimum export in tests/data/optimum-micro (made by scripts/make_optimum_fixture.py). Deterministic:
    the same seed rebuilds the same weights."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8, norm_num_groups=8, attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
    ))
    for module, offset in ((unet, 1), (vae, 2), (text_encoder, 3)):
        _jitter(module, seed + offset)
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(shipped_tokenizer_folder()),
        unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_pipeline(pipe: StableDiffusionPipeline, folder: Path) -> Path:
    """Save ``pipe`` as a diffusers folder; returns it."""
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


__all__ = ["OurTokenizer", "build_controlnet", "build_pipeline", "build_unet", "save_pipeline"]


class TinyModelZoo:
    """Tiny diffusers folders and their ortdiffusion exports under ``root``, each built on first use (one
    zoo per test session)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, Path] = {}

    def _once(self, key: str, build) -> Path:
        if key not in self._cache:
            self._cache[key] = build(self.root / key)
        return self._cache[key]

    def diffusers(self, kind: str = "base") -> Path:
        """Diffusers folder: ``"base"`` (4-channel UNet), ``"inpaint"`` (9-channel UNet) or ``"lcm"`` (a UNet
        with a guidance condition, time_cond_proj_dim 32, as LCM-distilled UNets have)."""
        channels = {"base": 4, "inpaint": 9, "lcm": 4}[kind]
        extra = {"time_cond_proj_dim": 32} if kind == "lcm" else {}
        return self._once(f"diffusers-{kind}", lambda p: save_pipeline(build_pipeline(channels, **extra), p))

    def controlnet(self, index: int) -> Path:
        """Diffusers ControlNet folder number ``index`` (different weights per index)."""
        def build(path: Path) -> Path:
            build_controlnet(seed=10 + index).save_pretrained(path)
            return path

        return self._once(f"controlnet-{index}", build)

    def exported(self, kind: str = "base") -> Path:
        """ortdiffusion export: ``"base"``, ``"inpaint"``, ``"cn1"`` (one ControlNet), ``"cn2"`` (two),
        ``"lcm"`` (the LCM-distilled UNet's folder), ``"swap"`` (LoRA slots of rank 12 on the default targets and the resnets' conv1), ``"plain"``
        (the base model with attention as MatMul/Softmax instead of the fused MultiHeadAttention op), ``"deep"``
        (the base model exported with --deep-cache), ``"deep-swap"`` (the swap export with --deep-cache)."""
        from ortdiffusion.exporter import export_pipeline
        from ortdiffusion.exporter.pipeline import DEFAULT_LORA_TARGETS

        def build(path: Path) -> Path:
            source = self.diffusers(kind if kind in ("inpaint", "lcm") else "base")
            nets = [self.controlnet(k) for k in range({"cn1": 1, "cn2": 2}.get(kind, 0))]
            if kind in ("swap", "deep-swap"):
                export_pipeline(source, path, lora_rank=12, lora_targets=(*DEFAULT_LORA_TARGETS, "conv1"),
                                deep_cache=kind == "deep-swap")
            elif kind == "deep":
                export_pipeline(source, path, deep_cache=True)
            elif kind == "plain":
                export_pipeline(source, path, attention="plain")
            else:
                export_pipeline(source, path, controlnets=nets)
            return path

        return self._once(f"onnx-{kind}", build)


UNET_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "ff.net.0.proj", "conv1"]
TEXT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1"]


@dataclass
class RandomLora:
    """A LoRA file for ortdiffusion plus what a torch reference needs to apply the same LoRA."""

    path: Path  # diffusers-format .safetensors (UNet and text encoder, peft metadata)
    unet_only: Path  # the UNet part alone, with its metadata (what diffusers loads here)
    text_config: Any = None
    text_state_dict: dict | None = None

    def apply_to(self, pipe: StableDiffusionPipeline, adapter_name: str) -> None:
        """Apply to a diffusers pipeline: the UNet part through diffusers' load_lora_weights (peft), the text
        encoder part through peft directly (transformers here needs a newer peft for its own loader)."""
        pipe.load_lora_weights(str(self.unet_only), adapter_name=adapter_name)
        if self.text_state_dict is not None:
            from peft import inject_adapter_in_model, set_peft_model_state_dict

            inject_adapter_in_model(self.text_config, pipe.text_encoder, adapter_name=adapter_name)
            set_peft_model_state_dict(pipe.text_encoder, self.text_state_dict, adapter_name=adapter_name)


def make_random_lora(
    folder: Path, seed: int, unet_rank: int = 4, unet_alpha: float = 8.0, text_rank: int | None = 8,
    text_alpha: float = 4.0, build: Callable[[], StableDiffusionPipeline] = build_pipeline,
) -> RandomLora:
    """A random peft LoRA (several target modules, alpha != rank) for the pipeline ``build`` makes, saved in
    diffusers' format with peft metadata."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.utils import get_peft_model_state_dict

    pipe = build()
    generator = torch.Generator().manual_seed(seed)

    def randomize(module: torch.nn.Module) -> None:
        with torch.no_grad():
            for name, p in module.named_parameters():
                if "lora_" in name:
                    p.copy_(torch.randn(p.shape, generator=generator) * (0.3 if "lora_A" in name else 0.1))

    unet_config = LoraConfig(r=unet_rank, lora_alpha=unet_alpha, target_modules=UNET_LORA_TARGETS, init_lora_weights=False)
    pipe.unet.add_adapter(unet_config)
    randomize(pipe.unet)
    unet_layers = get_peft_model_state_dict(pipe.unet)
    folder.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(folder / "unet_only", unet_lora_layers=unet_layers,
                                              unet_lora_adapter_metadata=unet_config.to_dict())
    layers: dict[str, Any] = {"unet_lora_layers": unet_layers, "unet_lora_adapter_metadata": unet_config.to_dict()}
    result = RandomLora(folder / "pytorch_lora_weights.safetensors", folder / "unet_only" / "pytorch_lora_weights.safetensors")
    if text_rank is not None:
        text_config = LoraConfig(r=text_rank, lora_alpha=text_alpha, target_modules=TEXT_LORA_TARGETS, init_lora_weights=False)
        inject_adapter_in_model(text_config, pipe.text_encoder)
        randomize(pipe.text_encoder)
        text_state = get_peft_model_state_dict(pipe.text_encoder)
        layers.update(text_encoder_lora_layers=text_state,
                      text_encoder_lora_adapter_metadata=text_config.to_dict())
        result.text_config, result.text_state_dict = text_config, text_state
    StableDiffusionPipeline.save_lora_weights(folder, **layers)
    return result


def diffusers_lora_to_kohya(source: Path, target: Path, unet_alpha: float) -> Path:
    """Rewrite a diffusers-format UNet LoRA in kohya / A1111 naming with explicit ``.alpha`` tensors."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(source)
    out = {}
    for key, value in tensors.items():
        part, _, rest = key.partition(".")
        if part != "unet":
            continue
        module, _, kind = rest.rpartition(".lora_")
        kohya = "lora_unet_" + module.replace(".", "_")
        out[f"{kohya}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = value
        out[f"{kohya}.alpha"] = torch.tensor(unet_alpha)
    save_file(out, target)
    return target
