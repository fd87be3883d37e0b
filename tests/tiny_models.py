"""Tiny random-weight Stable Diffusion 1.x parts built locally (no download), saved as diffusers folders.

Sizes keep every code path of the real architecture (cross-attention down/up blocks, a mid block,
ResNet and attention in the VAE, the real CLIP tokenizer) while exporting and running in seconds."""

from __future__ import annotations

from pathlib import Path

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


def build_unet(in_channels: int = 4, seed: int = 0) -> UNet2DConditionModel:
    """A tiny UNet2DConditionModel (9 input channels for inpainting)."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(in_channels=in_channels, **UNET_KWARGS)
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


def build_pipeline(in_channels: int = 4, seed: int = 0) -> StableDiffusionPipeline:
    """A tiny diffusers StableDiffusionPipeline with a DDIM scheduler and the real CLIP tokenizer."""
    unet = build_unet(in_channels, seed)
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
        """Diffusers folder: ``"base"`` (4-channel UNet) or ``"inpaint"`` (9-channel UNet)."""
        channels = {"base": 4, "inpaint": 9}[kind]
        return self._once(f"diffusers-{kind}", lambda p: save_pipeline(build_pipeline(channels), p))

    def controlnet(self, index: int) -> Path:
        """Diffusers ControlNet folder number ``index`` (different weights per index)."""
        def build(path: Path) -> Path:
            build_controlnet(seed=10 + index).save_pretrained(path)
            return path

        return self._once(f"controlnet-{index}", build)

    def exported(self, kind: str = "base") -> Path:
        """ortdiffusion export: ``"base"``, ``"inpaint"``, ``"cn1"`` (one ControlNet), ``"cn2"`` (two)."""
        from ortdiffusion.exporter import export_pipeline

        def build(path: Path) -> Path:
            source = self.diffusers("inpaint" if kind == "inpaint" else "base")
            nets = [self.controlnet(k) for k in range({"cn1": 1, "cn2": 2}.get(kind, 0))]
            export_pipeline(source, path, controlnets=nets)
            return path

        return self._once(f"onnx-{kind}", build)
