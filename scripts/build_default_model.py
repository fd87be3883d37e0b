"""Install a trained tiny pipeline as the embedded default model (python/ortdiffusion/models/default) and,
optionally, its variants: the inpainting UNet (models/default_inpaint), the Canny ControlNet fused into the
UNet (models/default_canny) and the style LoRAs (models/default/loras/NAME.safetensors).

    bash scripts/train_default_model.sh RUN_DIR          # trains everything, then calls this
    python scripts/build_default_model.py --trained RUN_DIR/base [--inpaint RUN_DIR/inpaint]
        [--controlnet RUN_DIR/controlnet] [--lora outline=RUN_DIR/lora-outline ...]
    python scripts/build_default_model.py --lora lcm=RUN_DIR/lora-lcm --tiny-vae RUN_DIR/tiny-vae   # additions only

The LCM-LoRA and the tiny decoder are distilled from the installed model (training lcm-lora / tiny-vae
--export default), so they are installed in a second call, without --trained, which leaves the rest as it is.

The variants ship only their unet/ folder; their model_index.json takes the text encoder, VAE, scheduler
and tokenizer from ../default (components.SHARED_PARTS_KEY), so the package holds those once. The
ControlNet variant's UNet also leaves out the weights of its (frozen) base UNet half, and the inpainting
UNet and the ControlNet store their weight matrices as low-rank differences to the base UNet's; both are
assembled from default/unet into the cache on first use (shared_weights.py, low_rank_deltas.py).

``--trained`` is the diffusers folder written by ``python -m ortdiffusion.training base``. It is exported
with ortdiffusion's exporter (fused attention), the tokenizer copy is dropped (the package ships the real
CLIP tokenizer; model_index.json points there), and the 49408-row token embedding is pruned to the rows
training touched (exporter/vocabulary.py). Only the words of the dataset's captions (about 25 tokens)
were ever trained, so the other rows held their random initialisation and carried no meaning; they now
read one shared zero row, which shrinks the text encoder from 6.4 MB to 0.3 MB. Every model's weight
matrices are then stored in float16 and computed in float32 (half_weights.py, "fp16-weights"), and the
LoRAs are stored in float16: half the bytes, pictures within 74 dB PSNR of the float32 ones. Last, every
part's weight matrices are packed to int8 with a scale per output channel (packed_weights.py): half the
bytes again; on first use each part is assembled, decoded to float16, into the cache (shared_weights.py).
Needs the [export] extra."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ortdiffusion.exporter import export_pipeline
from ortdiffusion.exporter.tiny_vae import export_tiny_vae_decoder
from ortdiffusion.exporter.vocabulary import prune_vocabulary
from ortdiffusion.model_folder import PRECISION_KEY, SHARED_PARTS_KEY, TINY_VAE_DECODER
from ortdiffusion.model_folder.half_weights import store_part_fp16
from ortdiffusion.model_folder.packed_weights import pack_weights
from ortdiffusion.model_folder.shared_weights import share_weights
from ortdiffusion.pipelines.components import SHIPPED_TOKENIZER, SHIPPED_TOKENIZER_KEY
from ortdiffusion.safetensors_file import read_safetensors
from ortdiffusion.tokenization import CLIPTokenizer
from ortdiffusion.training import shapes

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "python" / "ortdiffusion" / "models"
BASE_FOLDER = "default"
VARIANT_FOLDERS = {"inpaint": "default_inpaint", "controlnet": "default_canny"}
# Rank of each variant's differences to the base UNet. Semantic measures, probed on the packed models
# (2026-11-25): inpainting at rank 8 / 16 / full: shapes recognised 10 / 11 / 11 of 12, prompt colour
# 27-78% / 32-79% / 41-80% of the mask, outside the mask 1.4-3.5 / 1.3-3.0 / 1.3-3.3 per 255 (as built,
# rank 16 from the unpacked fine-tune: 12 of 12, 33-79%, 1.1-3.1); ControlNet at rank 16 / full: edge
# IoU 0.64 / 0.63 (lowest 0.39 / 0.39).
DELTA_RANKS = {"inpaint": 16, "controlnet": 16}
UNPACKED_BASE_UNET = "base-unet-unpacked"  # in the scratch folder: install_base leaves it for install_variant


def trained_token_ids() -> set[int]:
    """Every token id the training captions (and the empty prompt of classifier-free guidance) contain."""
    tokenizer = CLIPTokenizer.default()
    captions = {""} | {shapes.sample_at(seed, i).caption for seed in range(3) for i in range(3000)}
    return {int(t) for t in tokenizer(sorted(captions)).ravel()}


def _write_index(folder: Path, note: str, extra: dict | None = None) -> None:
    """Point model_index.json at the shipped tokenizer and add the provenance note (and ``extra``)."""
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index[SHIPPED_TOKENIZER_KEY] = SHIPPED_TOKENIZER
    index["_ortdiffusion_note"] = note
    index.update(extra or {})
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def _install(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def install_base(trained: Path, scratch: Path, models: Path) -> int:
    """Export the trained base folder into ``models``/default; returns how many token rows were dropped."""
    exported = scratch / "base"
    export_pipeline(trained, exported, deep_cache=True)
    shutil.rmtree(exported / "tokenizer")
    pruned = prune_vocabulary(exported / "text_encoder", trained_token_ids())
    for part in ("unet", "text_encoder", "vae_encoder", "vae_decoder"):
        store_part_fp16(exported / part)
    shutil.copytree(exported / "unet", scratch / UNPACKED_BASE_UNET)  # what the ControlNet variant was fused with
    for part in ("unet", "text_encoder", "vae_encoder", "vae_decoder"):
        pack_weights(exported / part)
    _write_index(exported, "trained on synthetic shapes by scripts/train_default_model.sh; "
                           "installed by scripts/build_default_model.py", {PRECISION_KEY: "fp16-weights"})
    if (trained / "training_summary.json").is_file():
        shutil.copyfile(trained / "training_summary.json", exported / "training_summary.json")
    previous_loras = models / BASE_FOLDER / "loras"
    if previous_loras.is_dir():  # a rebuild of the base alone keeps the LoRAs installed before
        shutil.copytree(previous_loras, exported / "loras")
    _install(exported, models / BASE_FOLDER)
    return pruned.rows_before - pruned.rows_after + 1


def install_variant(kind: str, source: Path, controlnets: list[Path], scratch: Path, models: Path) -> None:
    """Export ``source`` (the inpainting pipeline folder, or the base with ``controlnets`` fused) and install
    its unet/ with a model_index.json that takes every other part from ../default."""
    exported = scratch / kind
    export_pipeline(source, exported, controlnets=controlnets, deep_cache=not controlnets)
    variant = scratch / f"{kind}-variant"
    variant.mkdir()
    shutil.copytree(exported / "unet", variant / "unet")
    store_part_fp16(variant / "unet")
    shutil.copyfile(exported / "model_index.json", variant / "model_index.json")
    summary = (controlnets[0] if controlnets else source) / "training_summary.json"
    if summary.is_file():
        shutil.copyfile(summary, variant / "training_summary.json")
    _write_index(variant, f"{kind} variant of ../default, trained by scripts/train_default_model.sh",
                 {SHARED_PARTS_KEY: "../default", PRECISION_KEY: "fp16-weights"})
    _install(variant, models / VARIANT_FOLDERS[kind])
    unet = models / VARIANT_FOLDERS[kind] / "unet"
    # The ControlNet variant's UNet half is the frozen base UNet: those weights ship once (the packed ones),
    # and its ControlNet started as a copy of the UNet's encoder (ControlNetModel.from_unet): its matrices
    # ship as the base encoder's plus a low-rank difference (low_rank_deltas.py). The inpainting UNet was
    # fine-tuned from the base throughout: its matrices ship the same way.
    share_weights(unet, models / BASE_FOLDER / "unet", compare_with=scratch / UNPACKED_BASE_UNET,
                  low_rank=DELTA_RANKS[kind], base_prefixes={"controlnets.0.": "unet."} if controlnets else None)
    pack_weights(unet)


def install_lora(name: str, folder: Path, models: Path) -> Path:
    """Store a trained LoRA (diffusers' pytorch_lora_weights.safetensors) as default/loras/NAME.safetensors
    in float16, as LoRAs are usually distributed (half the bytes; the loader computes in float32)."""
    from safetensors.numpy import save_file

    tensors, metadata = read_safetensors(folder / "pytorch_lora_weights.safetensors")
    target = models / BASE_FOLDER / "loras" / f"{name}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.astype(np.float16) for key, value in tensors.items()}, str(target), metadata=metadata)
    return target


def _named_folder(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER, got {text!r}")
    return name, Path(folder)


def main() -> int:
    """Export the trained folders and install them into the package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", type=Path, help="diffusers folder from the training's base step (without it, only "
                        "--lora and --tiny-vae are installed, into the installed model)")
    parser.add_argument("--tiny-vae", type=Path, help="AutoencoderTiny folder from the training's tiny-vae step")
    parser.add_argument("--inpaint", type=Path, help="folder from the training's inpaint step")
    parser.add_argument("--controlnet", type=Path, help="folder from the training's controlnet step")
    parser.add_argument("--lora", type=_named_folder, action="append", default=[], metavar="NAME=FOLDER",
                        help="folder from a training lora step (repeatable)")
    parser.add_argument("--models-dir", type=Path, default=MODELS, help=f"where to install (default {MODELS})")
    args = parser.parse_args()
    models = args.models_dir
    if args.trained is None and (args.inpaint or args.controlnet):
        parser.error("--inpaint and --controlnet need --trained (the base they are built against)")
    if args.trained is not None:
        install_trained(args, models)
    for name, folder in args.lora:
        print(f"installed {install_lora(name, folder, models)}")
    if args.tiny_vae:
        target = models / BASE_FOLDER / TINY_VAE_DECODER
        if target.exists():
            shutil.rmtree(target)
        export_tiny_vae_decoder(args.tiny_vae, target)
        print(f"installed {target}")
    roots = [models / BASE_FOLDER] + [models / f for f in VARIANT_FOLDERS.values()]
    size = sum(p.stat().st_size for root in roots if root.exists() for p in root.rglob("*") if p.is_file())
    print(f"shipped models: {size / 1e6:.2f} MB")
    return 0


def install_trained(args: argparse.Namespace, models: Path) -> None:
    """Install the trained base and the variants given."""
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        dropped = install_base(args.trained, scratch, models)
        print(f"installed {models / BASE_FOLDER} ({dropped} untrained token rows dropped)")
        if args.inpaint:
            install_variant("inpaint", args.inpaint, [], scratch, models)
            print(f"installed {models / VARIANT_FOLDERS['inpaint']}")
        if args.controlnet:
            install_variant("controlnet", args.trained, [args.controlnet], scratch, models)
            print(f"installed {models / VARIANT_FOLDERS['controlnet']}")


if __name__ == "__main__":
    sys.exit(main())
