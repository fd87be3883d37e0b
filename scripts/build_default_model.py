"""Build the embedded default model: a tiny Stable Diffusion 1.x pipeline with random (seeded) weights,
exported with ortdiffusion's exporter into python/ortdiffusion/models/default.

    python scripts/build_default_model.py        # needs the [export] extra (torch, diffusers, transformers)

Sizes are chosen so the package stays a few MB: the text encoder's 49408-token embedding dominates, so its
width is 16. It keeps the tokenizer out (the package ships the real CLIP tokenizer; model_index.json
points there). Replace it with a trained model when one exists (issue 7)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from ortdiffusion.exporter import export_pipeline
from ortdiffusion.pipelines.components import SHIPPED_TOKENIZER, SHIPPED_TOKENIZER_KEY

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "python" / "ortdiffusion" / "models" / "default"
TOKENIZER = REPO / "python" / "ortdiffusion" / "data" / "clip_tokenizer"
SEED = 20261124
WIDTH = 16  # text encoder hidden size = UNet cross-attention dim


def build() -> StableDiffusionPipeline:
    """The random-weight pipeline (seeded: rebuilding gives the same weights)."""
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=WIDTH, norm_num_groups=8, attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=WIDTH, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
    ))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(TOKENIZER), unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def main() -> int:
    """Build, export, drop the tokenizer copy, install into the package."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "diffusers"
        build().save_pretrained(source)
        exported = Path(scratch) / "onnx"
        export_pipeline(source, exported)
        shutil.rmtree(exported / "tokenizer")
        index_path = exported / "model_index.json"
        index = json.loads(index_path.read_text())
        index[SHIPPED_TOKENIZER_KEY] = SHIPPED_TOKENIZER
        index["_ortdiffusion_note"] = "random weights; built by scripts/build_default_model.py"
        index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(exported, TARGET)
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"wrote {TARGET} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
