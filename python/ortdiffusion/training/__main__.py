"""Command line for training the default model on CPU.

    python -m ortdiffusion.training vae  --steps 1500 --out runs/vae
    python -m ortdiffusion.training base --vae runs/vae --steps 4000 --out runs/base
    python -m ortdiffusion.training sample --model runs/base --out runs/base/samples.png
    python -m ortdiffusion.training inpaint --base runs/base --out runs/inpaint
    python -m ortdiffusion.training controlnet --base runs/base --out runs/controlnet
    python -m ortdiffusion.training lora --base runs/base --style outline --out runs/lora-outline
    python -m ortdiffusion.training lcm-lora --export default --out runs/lora-lcm
    python -m ortdiffusion.training tiny-vae --export default --out runs/tiny-vae

``base`` saves a diffusers StableDiffusionPipeline folder (vae, text_encoder, tokenizer, unet, scheduler)
that ``ortdiffusion export`` turns into ONNX; ``inpaint`` a StableDiffusionInpaintPipeline folder (9-channel
UNet); ``controlnet`` a ControlNetModel folder (``ortdiffusion export --controlnet``); ``lora`` a diffusers
``pytorch_lora_weights.safetensors``; ``lcm-lora`` distils an LCM-LoRA for an exported folder (the embedded
model: ``default``) and saves it the same way; ``tiny-vae`` distils a tiny decoder (AutoencoderTiny) for an exported
folder and saves it as a diffusers folder (``ortdiffusion export --tiny-vae``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("ortdiffusion.training")


def _ints(text: str) -> tuple[int, ...]:
    """ "32,64,64" -> (32, 64, 64)."""
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def _variant_parser(sub: argparse._SubParsersAction, name: str, help_text: str, steps: int, lr: float, seed: int,
                    out_help: str | None = None) -> argparse.ArgumentParser:
    """A sub-command that trains on a saved base pipeline (inpaint, controlnet, lora), with its defaults."""
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("--base", type=Path, required=True, help="folder saved by the base command")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dataset-size", type=int, default=None, help="pictures encoded once (default: the options' own)")
    parser.add_argument("--seed", type=int, default=seed)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ortdiffusion.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    sub = parser.add_subparsers(dest="command", required=True)

    vae = sub.add_parser("vae", help="train the AutoencoderKL and measure its scaling factor")
    vae.add_argument("--out", type=Path, required=True)
    vae.add_argument("--steps", type=int, default=1500)
    vae.add_argument("--batch-size", type=int, default=16)
    vae.add_argument("--size", type=int, default=64)
    vae.add_argument("--lr", type=float, default=2e-3)
    vae.add_argument("--kl-weight", type=float, default=1e-6)
    vae.add_argument("--channels", type=_ints, default=None, help="block_out_channels, e.g. 16,32,32")
    vae.add_argument("--seed", type=int, default=0)

    base = sub.add_parser("base", help="train the text encoder and the UNet on a trained VAE")
    base.add_argument("--vae", type=Path, required=True, help="folder saved by the vae command")
    base.add_argument("--out", type=Path, required=True)
    base.add_argument("--steps", type=int, default=3000)
    base.add_argument("--batch-size", type=int, default=32)
    base.add_argument("--size", type=int, default=64)
    base.add_argument("--lr", type=float, default=1e-3)
    base.add_argument("--dataset-size", type=int, default=20000)
    base.add_argument("--caption-dropout", type=float, default=0.1)
    base.add_argument("--snr-gamma", type=float, default=5.0)
    base.add_argument("--ema-decay", type=float, default=0.999)
    base.add_argument("--unet-channels", type=_ints, default=None, help="block_out_channels, e.g. 32,64,64")
    base.add_argument("--text-width", type=int, default=None, help="text encoder width = cross-attention dim")
    base.add_argument("--init", type=Path, default=None,
                      help="pipeline folder (a previous base run) to continue from instead of fresh weights")
    base.add_argument("--seed", type=int, default=1)

    sample = sub.add_parser("sample", help="sample a saved pipeline and score the colours")
    sample.add_argument("--model", type=Path, required=True)
    sample.add_argument("--out", type=Path, required=True, help="PNG grid to write")
    sample.add_argument("--steps", type=int, default=25)
    sample.add_argument("--guidance", type=float, default=5.0)
    sample.add_argument("--count", type=int, default=16)
    sample.add_argument("--seed", type=int, default=0)

    _variant_parser(sub, "inpaint", "fine-tune the base UNet into a 9-channel inpainting UNet", 2000, 1e-3, 2)
    _variant_parser(sub, "controlnet", "train a Canny-edge ControlNet on the frozen base pipeline", 1200, 5e-4, 3)
    lora = _variant_parser(sub, "lora", "train a style LoRA (peft) on the frozen base UNet", 500, 2e-3, 4,
                           out_help="folder for pytorch_lora_weights.safetensors")
    lora.add_argument("--style", required=True, choices=["outline", "complement"])
    lora.add_argument("--rank", type=int, default=8)

    lcm = sub.add_parser("lcm-lora", help="distil an LCM-LoRA (few-step sampling) for an exported pipeline folder")
    lcm.add_argument("--export", type=Path, required=True,
                     help="exported ONNX pipeline folder (an ortdiffusion export; 'default': the embedded model)")
    lcm.add_argument("--out", type=Path, required=True, help="folder for pytorch_lora_weights.safetensors")
    lcm.add_argument("--steps", type=int, default=1500)
    lcm.add_argument("--lr", type=float, default=1e-3)
    lcm.add_argument("--rank", type=int, default=16)
    lcm.add_argument("--batch-size", type=int, default=32)
    lcm.add_argument("--dataset-size", type=int, default=8000)
    lcm.add_argument("--seed", type=int, default=5)
    lcm.add_argument("--w-min", type=float, default=3.0, help="smallest teacher guidance w (scale w + 1)")
    lcm.add_argument("--w-max", type=float, default=9.0, help="largest teacher guidance w (scale w + 1)")

    tiny = sub.add_parser("tiny-vae", help="distil a tiny VAE decoder (AutoencoderTiny) for an exported pipeline folder")
    tiny.add_argument("--export", type=Path, required=True, help="exported ONNX pipeline folder ('default': the embedded model)")
    tiny.add_argument("--out", type=Path, required=True, help="folder for the AutoencoderTiny (diffusers layout)")
    tiny.add_argument("--steps", type=int, default=3000)
    tiny.add_argument("--lr", type=float, default=2e-3)
    tiny.add_argument("--channels", type=int, default=32)
    tiny.add_argument("--seed", type=int, default=6)
    return parser


def _dataset_size(args: argparse.Namespace) -> dict:
    """``{"dataset_size": N}`` when --dataset-size was given, else {} (the options' default)."""
    return {"dataset_size": args.dataset_size} if args.dataset_size else {}


def _load_base(folder: Path):
    """The trained base pipeline's parts: vae, text_encoder, unet, tokenizer (diffusers/transformers)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    return pipe.vae, pipe.text_encoder, pipe.unet, pipe.tokenizer


def _train_inpaint(args: argparse.Namespace) -> dict:
    from diffusers import StableDiffusionInpaintPipeline

    from ortdiffusion.training import inpaint, models

    vae, text_encoder, base_unet, tokenizer = _load_base(args.base)
    unet = inpaint.widen_to_inpainting(base_unet)
    options = inpaint.InpaintOptions(steps=args.steps, lr=args.lr, seed=args.seed, batch_size=args.batch_size,
                                     **_dataset_size(args), size=base_unet.config.sample_size * 2 ** (
        len(vae.config.block_out_channels) - 1))
    history = inpaint.train_inpaint(options, vae, text_encoder, unet, tokenizer)
    StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=models.sampling_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(args.out)
    return {"history": history, "parameters": models.parameter_count(unet)}


def _train_controlnet(args: argparse.Namespace) -> dict:
    from ortdiffusion.training import controlnet, models

    vae, text_encoder, unet, tokenizer = _load_base(args.base)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    net = controlnet.build_controlnet(unet, factor)
    options = controlnet.ControlNetOptions(steps=args.steps, lr=args.lr, seed=args.seed, batch_size=args.batch_size,
                                           size=unet.config.sample_size * factor, **_dataset_size(args))
    history = controlnet.train_controlnet(options, vae, text_encoder, unet, net, tokenizer)
    net.save_pretrained(args.out)
    return {"history": history, "parameters": models.parameter_count(net)}


def _train_lora(args: argparse.Namespace) -> dict:
    from ortdiffusion.training import lora

    vae, text_encoder, unet, tokenizer = _load_base(args.base)
    size = unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)
    options = lora.LoraOptions(style=args.style, steps=args.steps, rank=args.rank, lr=args.lr, seed=args.seed, size=size,
                               batch_size=args.batch_size, **_dataset_size(args))
    history = lora.train_lora(options, vae, text_encoder, unet, tokenizer)
    path = lora.save_lora(unet, args.out)
    return {"history": history, "style": args.style, "file": str(path), "bytes": path.stat().st_size}


def _train_lcm_lora(args: argparse.Namespace) -> dict:
    from ortdiffusion.lora.few_step import few_step_metadata
    from ortdiffusion.models import embedded_model_folder
    from ortdiffusion.training import lcm_lora, lora

    folder = embedded_model_folder(args.export) or args.export
    options = lcm_lora.LcmOptions(steps=args.steps, lr=args.lr, rank=args.rank, batch_size=args.batch_size,
                                  dataset_size=args.dataset_size, seed=args.seed, w_min=args.w_min, w_max=args.w_max)
    unet, history = lcm_lora.train_lcm_lora(options, folder)
    path = lora.save_lora(unet, args.out, few_step_metadata("LCM", 4))
    return {"history": history, "file": str(path), "bytes": path.stat().st_size, "options": vars(options)}


def _train_tiny_vae(args: argparse.Namespace) -> dict:
    from ortdiffusion.models import embedded_model_folder
    from ortdiffusion.training import models, tiny_vae

    folder = embedded_model_folder(args.export) or args.export
    options = tiny_vae.TinyVaeOptions(steps=args.steps, lr=args.lr, channels=args.channels, seed=args.seed)
    vae, history = tiny_vae.train_tiny_vae(options, folder)
    vae.save_pretrained(args.out)
    return {"history": history, "parameters": models.parameter_count(vae.decoder), "options": vars(options)}


def _train_vae(args: argparse.Namespace) -> dict:
    from ortdiffusion.training import models, vae

    overrides = {"block_out_channels": args.channels} if args.channels else {}
    net = models.build_vae(sample_size=args.size, **overrides)
    options = vae.VaeOptions(steps=args.steps, batch_size=args.batch_size, size=args.size, lr=args.lr,
                             kl_weight=args.kl_weight, seed=args.seed)
    net, history = vae.train_vae(options, net)
    held_out = args.seed + 1000
    factor = vae.finish_vae(net, args.out, held_out, args.size)
    return {"history": history, "scaling_factor": factor, "parameters": models.parameter_count(net),
            "reconstruction": vae.reconstruction_error(net, held_out, size=args.size)}


def _train_base(args: argparse.Namespace) -> dict:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    from ortdiffusion.training import base, data, models, sample

    vae = AutoencoderKL.from_pretrained(args.vae)
    width = args.text_width or models.TEXT_WIDTH
    text_overrides = {"hidden_size": width, "intermediate_size": 2 * width} if args.text_width else {}
    unet_overrides = {"cross_attention_dim": width}
    if args.unet_channels:
        unet_overrides["block_out_channels"] = args.unet_channels
    vae_blocks = len(vae.config.block_out_channels)
    if args.init and (args.unet_channels or args.text_width):
        raise SystemExit(f"--init {args.init} takes the architecture from that folder; drop --unet-channels/--text-width")
    if args.init:
        text_encoder = CLIPTextModel.from_pretrained(args.init / "text_encoder")
        unet = UNet2DConditionModel.from_pretrained(args.init / "unet")
    else:
        text_encoder = models.build_text_encoder(**text_overrides)
        unet = models.build_unet(sample_size=args.size // 2 ** (vae_blocks - 1), **unet_overrides)
    tokenizer = data.shipped_tokenizer()
    options = base.BaseOptions(
        steps=args.steps, batch_size=args.batch_size, size=args.size, lr=args.lr, dataset_size=args.dataset_size,
        caption_dropout=args.caption_dropout, snr_gamma=args.snr_gamma, ema_decay=args.ema_decay, seed=args.seed,
    )
    history = base.train_base(options, vae, text_encoder, unet, tokenizer)
    pipe = sample.assemble(vae, text_encoder, unet, tokenizer)
    pipe.save_pretrained(args.out)
    return {"history": history, "parameters": {"text_encoder": models.parameter_count(text_encoder),
                                               "unet": models.parameter_count(unet)}}


def _sample(args: argparse.Namespace) -> dict:
    from diffusers import StableDiffusionPipeline

    from ortdiffusion.training import models, sample

    pipe = StableDiffusionPipeline.from_pretrained(args.model, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = models.sampling_scheduler()
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    return sample.sample_and_score(pipe, sample.evaluation_attributes(args.count), args.out, args.steps,
                                   args.guidance, args.seed, size)


def main(argv: list[str] | None = None) -> int:
    """Run one training command; writes a JSON summary next to its output."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    commands = {"vae": _train_vae, "base": _train_base, "sample": _sample, "inpaint": _train_inpaint,
                "controlnet": _train_controlnet, "lora": _train_lora, "lcm-lora": _train_lcm_lora,
                "tiny-vae": _train_tiny_vae}
    summary = commands[args.command](args)
    summary["seconds"] = time.perf_counter() - start
    target = args.out if args.out.suffix == "" else args.out.with_suffix(".json")
    if target.suffix == "":
        target.mkdir(parents=True, exist_ok=True)
        target = target / "training_summary.json"
    target.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("done in %.0f s; summary in %s", summary["seconds"], target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
