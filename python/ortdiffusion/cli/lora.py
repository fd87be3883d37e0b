"""``ortdiffusion lora inspect|verify|convert``: look inside a LoRA file, check it against a model, convert
it to the .lora format for that model."""

from __future__ import annotations

import argparse
from pathlib import Path

from ortdiffusion.cli.arguments import model_folder


def _lora_file(value: str) -> Path:
    """argparse type of a LoRA argument: a path, or the name of a LoRA shipped with the embedded model."""
    from ortdiffusion.models import shipped_lora_file

    if not value.strip():
        raise argparse.ArgumentTypeError("is empty; give a LoRA .safetensors file or a shipped LoRA's name")
    return shipped_lora_file(value) or Path(value)


def _embedded_model() -> Path:
    from ortdiffusion.models import default_model_path

    return default_model_path()


def _inspect(args: argparse.Namespace) -> int:
    from ortdiffusion.lora import load_lora_file

    lora = load_lora_file(args.file)
    print(f"{args.file}: {'kohya/A1111' if lora.kohya else 'diffusers/peft'} layout, {lora.count()} layers")
    for part, layers in lora.layers.items():
        if not layers:
            continue
        ranks = sorted({layer.rank for layer in layers.values()})
        scales = sorted({round(layer.scale, 6) for layer in layers.values()})
        print(f"  {part}: {len(layers)} layers, ranks {ranks}, alpha/r {scales[:6]}{' ...' if len(scales) > 6 else ''}")
        for name in list(layers)[: args.show]:
            layer = layers[name]
            print(f"    {name}: down {list(layer.down.shape)} up {list(layer.up.shape)} alpha {layer.alpha}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ortdiffusion.lora.model_match import match_lora_to_model

    model = args.model or _embedded_model()
    matched = match_lora_to_model(model, args.file)
    for part, items in matched.items():
        print(f"{part}: all {len(items)} layers match weights of {model / part}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ortdiffusion.lora.lora_file import write_lora_file
    from ortdiffusion.lora.model_match import match_lora_to_model

    matched = match_lora_to_model(args.model or _embedded_model(), args.file)
    path = write_lora_file(args.out, matched)
    print(f"wrote {path} ({sum(len(v) for v in matched.values())} layers, {path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from ortdiffusion.cli.generate import parse_lora_argument
    from ortdiffusion.lora.merge_export import merge_into_export

    model = args.model or _embedded_model()
    loras = [parse_lora_argument(value, shipped=args.model is None) for value in args.lora]
    counts = merge_into_export(model, loras, args.output, overwrite=args.overwrite)
    merged = ", ".join(f"{part}: {count} weights" for part, count in counts.items())
    print(f"wrote {args.output} ({model} with {len(loras)} LoRA(s) merged; {merged})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``lora`` (inspect / verify / convert / merge) on the command's sub-parsers."""
    from ortdiffusion.models import SHIPPED_LORAS

    shipped = ", ".join(SHIPPED_LORAS)
    lora = sub.add_parser("lora", help="inspect, verify, convert or merge LoRA files")
    commands = lora.add_subparsers(dest="lora_command", required=True)
    inspect = commands.add_parser("inspect", help="list a LoRA's layers, ranks and alphas")
    inspect.add_argument("file", type=_lora_file, help=f"LoRA .safetensors, or a shipped one: {shipped}")
    inspect.add_argument("--show", type=int, default=5, help="layers to list per part")
    inspect.set_defaults(func=_inspect)
    verify = commands.add_parser("verify", help="check that every layer of a LoRA fits an exported model")
    verify.add_argument("file", type=_lora_file, help=f"LoRA .safetensors, or a shipped one: {shipped}")
    verify.add_argument("--model", type=model_folder, help="exported folder (default: the embedded model)")
    verify.set_defaults(func=_verify)
    convert = commands.add_parser("convert", help="write a .lora file (named after the model's weights)")
    convert.add_argument("file", type=_lora_file, help=f"LoRA .safetensors, or a shipped one: {shipped}")
    convert.add_argument("--model", type=model_folder, help="exported folder (default: the embedded model)")
    convert.add_argument("--out", type=Path, required=True)
    convert.set_defaults(func=_convert)
    merge = commands.add_parser("merge", help="write a copy of an exported model with LoRAs merged into its weights")
    merge.add_argument("--lora", action="append", required=True, metavar="PATH[:WEIGHT]",
                       help=f"LoRA file (repeatable; weights add up), or a shipped one: {shipped}")
    merge.add_argument("--model", type=model_folder, help="exported folder (default: the embedded model)")
    merge.add_argument("--output", type=Path, required=True, help="folder to write")
    merge.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    merge.set_defaults(func=_merge)
