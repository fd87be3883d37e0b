"""``ortdiffusion generate``: run a pipeline on an exported folder (or the embedded default model) and
write PNGs carrying the generation parameters."""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

from ortdiffusion.cli.preview import check_preview_path, preview_writer
from ortdiffusion.models import (
    DEFAULT_MODEL_NOTE,
    SHIPPED_LORAS,
    default_model_path,
    embedded_model_folder,
    shipped_lora_file,
)
from ortdiffusion.prompts.syntax import PROMPT_SYNTAXES

CANNY_LOW, CANNY_HIGH = 100, 200  # OpenCV Canny hysteresis thresholds of --canny
EMBEDDED_TRAINED_SIZE = (64, 64)  # (width, height) of the pictures the embedded model was trained on


def _or(value: Any, default: Any) -> Any:
    """``value``, or ``default`` when the option was not given (None; 0 is a value)."""
    return default if value is None else value


def _pick_pipeline(args: argparse.Namespace) -> tuple[type, dict[str, Any]]:
    """The pipeline class for the given inputs and the task-specific keyword arguments."""
    from ortdiffusion import image as images
    from ortdiffusion import pipelines

    control = list(args.control_image or [])
    if args.canny:
        control.append(images.canny(args.canny, _or(args.canny_low, CANNY_LOW), _or(args.canny_high, CANNY_HIGH)))
    if args.mask:
        if not args.image:
            raise ValueError("--mask needs --image (the picture to inpaint)")
        if control:
            raise ValueError("--mask cannot be combined with --control-image/--canny")
        height, width = images.default_size(images.load_image(args.image, "--image"), args.height, args.width)
        kwargs = {"image": args.image, "mask_image": args.mask, "strength": _or(args.strength, 1.0),
                  "height": height, "width": width}
        return pipelines.StableDiffusionInpaintPipeline, kwargs
    if control:
        kwargs = {"control_image": control[0] if len(control) == 1 else control,
                  "control_guidance_end": args.control_end, "height": args.height, "width": args.width}
        if args.control_scale:
            kwargs["controlnet_conditioning_scale"] = args.control_scale[0] if len(args.control_scale) == 1 else args.control_scale
        if args.image:
            kwargs.update(image=args.image, strength=_or(args.strength, 0.8))
            return pipelines.StableDiffusionControlNetImg2ImgPipeline, kwargs
        return pipelines.StableDiffusionControlNetPipeline, kwargs
    if args.image:
        return pipelines.StableDiffusionImg2ImgPipeline, {
            "image": args.image, "strength": _or(args.strength, 0.8), "height": args.height, "width": args.width}
    return pipelines.StableDiffusionPipeline, {"height": args.height, "width": args.width}


def _controlnet_count(model: Path) -> int:
    """How many ControlNets an ortdiffusion export fused into its UNet (0 for other folders; a missing
    model_index.json is reported by from_pretrained)."""
    from ortdiffusion.model_folder import read_config

    try:
        return int(read_config(model, "model_index.json").get("_ortdiffusion_controlnets", 0))
    except (ValueError, TypeError):
        return 0  # an unreadable index is not this check's to report


def _vae_scale_factor(model: Path) -> int:
    """Pixels per latent of a model: 2 ** (VAE blocks - 1) (8 for Stable Diffusion, 4 for the embedded model)."""
    from ortdiffusion.model_folder import part_folder, read_config

    blocks = read_config(part_folder(model, "vae_decoder")).get("block_out_channels", [0, 0, 0, 0])
    return 2 ** (len(blocks) - 1)


def _fit_inputs(args: argparse.Namespace, model: Path) -> tuple[int, int, int, int] | None:
    """``--fit pad``: resize every input picture into the output size keeping its aspect ratio, padded
    (the OpenCV preprocessing of ONNX SD tools); returns the box to crop the results to. The output size is
    --height/--width, each missing one taken from the first input picture as with --fit stretch, so a
    picture already of that shape is not padded at all."""
    from ortdiffusion import image as images

    if args.fit != "pad":
        return None
    given = [(f"--{name}", getattr(args, name)) for name in ("image", "mask", "canny") if getattr(args, name) is not None]
    option, first = given[0] if given else ("--control-image", args.control_image[0])  # check_arguments: one is given
    height, width = images.default_size(images.load_image(first, option), args.height, args.width,
                                        _vae_scale_factor(model))
    args.height, args.width = height, width
    box = None
    for name in ("image", "mask", "canny"):
        value = getattr(args, name)
        if value is not None:
            padded, box = images.resize_and_pad(value, width, height)
            setattr(args, name, padded.convert("L") if name == "mask" else padded)
    if args.control_image:
        fitted = [images.resize_and_pad(c, width, height) for c in args.control_image]
        args.control_image = [f[0] for f in fitted]
        box = box or fitted[0][1]
    return box


def parse_lora_argument(value: str, shipped: bool = False) -> tuple[Path, float]:
    """``PATH`` or ``PATH:WEIGHT`` (weight 1.0 by default). With ``shipped`` (the embedded default model),
    a name of a shipped LoRA that is not an existing path means that LoRA ("outline:0.5")."""
    path, sep, weight = value.rpartition(":")
    parsed = (Path(value), 1.0)
    if sep and path:
        try:
            parsed = (Path(path), float(weight))
        except ValueError:
            names_a_lora = Path(path).exists() or (shipped and path in SHIPPED_LORAS)
            if names_a_lora and not Path(value).exists():  # not a colon inside the path itself
                raise ValueError(f"--lora {value}: the weight {weight!r} is not a number (PATH[:WEIGHT])") from None
    shipped_file = shipped_lora_file(parsed[0]) if shipped else None
    return (shipped_file, parsed[1]) if shipped_file else parsed


def _default_task(pipeline_class: type) -> str:
    """Which embedded default model serves ``pipeline_class`` (see ortdiffusion.models), from the class's
    own declarations (``uses_controlnet``, ``task``) rather than its name."""
    if pipeline_class.uses_controlnet:
        return "controlnet"
    if pipeline_class.task == "inpainting":
        return "inpaint"
    return "text2img"


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before any work, options that would be ignored and an --out that cannot be written; each
    message names the argument (the CLI turns the ValueError into exit status 2)."""
    pictures = [name for name in ("image", "mask", "canny", "control_image") if getattr(args, name)]
    if args.strength is not None and not args.image:
        raise ValueError("--strength needs --image (it says how much of that picture to re-draw)")
    if (args.canny_low is not None or args.canny_high is not None) and not args.canny:
        raise ValueError("--canny-low/--canny-high need --canny (the picture whose edges they threshold)")
    if args.fit != "stretch" and not pictures:
        raise ValueError(f"--fit {args.fit} needs an input picture (--image, --mask, --canny or --control-image)")
    out = args.out
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder; give a file name, e.g. --out {out / 'ortdiffusion.png'}")
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {str(out)!r}: pictures are written as PNG (the generation parameters go into a PNG "
                         f"text chunk); give a .png name, e.g. --out {out.with_suffix('.png')}")
    if not out.parent.is_dir():
        raise ValueError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist; create it first")
    if args.preview is not None:
        check_preview_path(args.preview, out)


def warn_about_few_step_loras(paths: list[Path], scheduler: Any, steps: int, guidance: float) -> list[str]:
    """Print to stderr, for each few-step LoRA (lora/few_step.py) among ``paths``, how this run departs from
    what it was made for (scheduler, steps, guidance) and what to pass instead; returns the warnings."""
    from ortdiffusion.lora.few_step import few_step_lora

    warnings = []
    for path in paths:
        lora = few_step_lora(path)
        if lora is None:
            continue
        trailing = scheduler.config.get("timestep_spacing") == "trailing"
        departures = lora.departures(type(scheduler).__name__, trailing, steps, guidance)
        if departures:
            warnings.append(f"ortdiffusion: warning: {Path(path).name} is a few-step LoRA ({lora.kind}): "
                            f"{'; '.join(departures)}. It runs as asked; for what it was made for pass {lora.advice}")
    for line in warnings:
        print(line, file=sys.stderr)
    return warnings


def _model_folder(value: str) -> Path:
    """argparse type of --model: a folder, or one of the embedded model's names ("default", ...), which
    :func:`run` resolves."""
    if not value.strip():
        raise argparse.ArgumentTypeError("is empty; give an exported folder or 'default'")
    return Path(value)


def _positive_int(value: str) -> int:
    """argparse type of counts: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _output_file(value: str) -> Path:
    """argparse type of --out: a non-empty path."""
    if not value.strip():
        raise argparse.ArgumentTypeError("is empty; give a .png file name")
    return Path(value)


def _output_paths(out: Path, count: int) -> list[Path]:
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(count)]


def run(args: argparse.Namespace) -> int:
    """Generate images and save them as PNG; prints where they went."""
    from ortdiffusion.png import save_png
    from ortdiffusion.schedulers.a1111_names import a1111_sampler_name, scheduler_from_name

    prompt = args.prompt_option if args.prompt_option is not None else args.prompt
    if prompt is None:
        raise ValueError("give a prompt: ortdiffusion generate \"a red circle on a blue background\"")
    check_arguments(args)
    if args.scheduler is not None:
        scheduler_from_name(args.scheduler, {})  # an unknown name fails now, not after loading the model
    # The embedded model (no --model, or --model default): the arguments pick its variant, and the shipped
    # LoRA names work. A folder given by its path, the embedded one's included, is used as it is.
    named = embedded_model_folder(args.model) if args.model is not None else None
    embedded = args.model is None or named == default_model_path()
    model = named or args.model or default_model_path()
    if args.model is None and not args.quiet:
        print(DEFAULT_MODEL_NOTE)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    box = _fit_inputs(args, Path(model))
    pipeline_class, kwargs = _pick_pipeline(args)
    if embedded:
        model = default_model_path(_default_task(pipeline_class))
    controlnets = _controlnet_count(Path(model))
    if controlnets and "control_image" not in kwargs:
        raise ValueError(f"{model} was exported with {controlnets} ControlNet(s): pass --control-image IMG (once per "
                         "ControlNet) or --canny IMG")
    pipe = pipeline_class.from_pretrained(model, provider=args.provider, graph_cache=not args.no_graph_cache,
                                          vae_decoder=args.vae_decoder)
    if args.scheduler is not None:  # the model's noise schedule, stepped by the named scheduler
        pipe.scheduler = scheduler_from_name(args.scheduler, pipe.scheduler.config)
    loras = [parse_lora_argument(value, shipped=embedded) for value in args.lora or []]
    for index, (path, _) in enumerate(loras):
        pipe.load_lora_weights(path, adapter_name=f"lora{index}")
    if loras:
        pipe.set_adapters([f"lora{i}" for i in range(len(loras))], [weight for _, weight in loras])
    warn_about_few_step_loras([path for path, _ in loras], pipe.scheduler, args.steps, args.guidance)
    if args.deep_cache is not None:
        kwargs["cache_interval"] = args.deep_cache
    if args.preview is not None:
        kwargs["callback_on_step_end"] = preview_writer(pipe, args.preview)
    if args.vae is not None:
        pipe.load_vae_weights(args.vae)
    embeddings = list(args.embedding or [])
    for path in embeddings:  # AUTOMATIC1111's rule: the file's stem is the trigger word
        pipe.load_textual_inversion(path, token=path.stem)
    pipe.set_progress_bar_config(desc="denoising", unit="step", disable=args.quiet)
    pictures = []
    for index in range(args.num_images):  # each picture its own seed, seed + index, as AUTOMATIC1111 does
        result = pipe(
            prompt, negative_prompt=args.negative_prompt, num_inference_steps=args.steps,
            guidance_scale=args.guidance, num_images_per_prompt=1, eta=args.eta, generator=seed + index,
            prompt_syntax=args.prompt_syntax, **kwargs,
        )
        pictures += [p.crop(box) for p in result.images] if box else result.images
    first = pictures[0]
    if embedded and (first.width, first.height) != EMBEDDED_TRAINED_SIZE:
        print(f"ortdiffusion: note: the embedded model was trained on {EMBEDDED_TRAINED_SIZE[0]}x"
              f"{EMBEDDED_TRAINED_SIZE[1]} pictures; other sizes, as this {first.width}x{first.height}, draw worse "
              "(32x32 draws only the background)", file=sys.stderr)
    params = {
        "prompt": prompt, "negative_prompt": args.negative_prompt, "steps": args.steps,
        "scheduler": a1111_sampler_name(pipe.scheduler), "scheduler_class": type(pipe.scheduler).__name__,
        "scheduler_config": {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")},
        "guidance_scale": args.guidance, "seed": seed, "size": f"{first.width}x{first.height}",
        "model": str(model), "pipeline": pipeline_class.__name__, "eta": args.eta,
        "strength": kwargs.get("strength"), "fit": args.fit,
        "loras": [f"{Path(p).name}:{w}" for p, w in loras] or None, "prompt_syntax": args.prompt_syntax,
        "embeddings": ", ".join(p.stem for p in embeddings) or None, "vae": args.vae.name if args.vae else None,
        "deep_cache": args.deep_cache, "vae_decoder": args.vae_decoder,
    }
    for index, (picture, path) in enumerate(zip(pictures, _output_paths(args.out, len(pictures)))):
        save_png(picture, path, {**params, "seed": seed + index, "image_index": index})
        print(f"wrote {path} ({pipeline_class.__name__}, seed {seed + index}, {args.steps} steps)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``generate`` on the command's sub-parsers."""
    gen = sub.add_parser("generate", help="generate images with an exported model (default: the embedded tiny model)")
    gen.add_argument("prompt", nargs="?", help="the prompt (or --prompt)")
    gen.add_argument("--prompt", dest="prompt_option", help="the prompt")
    gen.add_argument("--model", type=_model_folder, help="exported folder (ortdiffusion export / optimum-cli export onnx); "
                     "default: the embedded tiny shapes model (its inpainting and Canny ControlNet variants for "
                     "--mask and --canny/--control-image)")
    gen.add_argument("--negative-prompt", help="what the picture should not show (default: none)")
    gen.add_argument("--prompt-syntax", choices=PROMPT_SYNTAXES, default="a1111",
                     help="a1111 (default): AUTOMATIC1111's (word:1.3), (word), [word], BREAK and prompts of any "
                          "length; plain: diffusers' (77 tokens, no weights)")
    gen.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    gen.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5; <= 1 disables)")
    gen.add_argument("--seed", type=int, help="seed (default: random, printed and stored in the PNG)")
    size_help = ("a multiple of the model's VAE factor: 8 for Stable Diffusion, 4 for the embedded model, which was "
                 "trained at 64x64 (default: the input picture's, else the model's own size)")
    gen.add_argument("--height", type=int, help=f"image height, {size_help}")
    gen.add_argument("--width", type=int, help=f"image width, {size_help}")
    gen.add_argument("--num-images", type=_positive_int, default=1,
                     help="images per prompt, each with its own seed: --seed, --seed + 1, ... (default 1)")
    gen.add_argument("--scheduler", metavar="NAME",
                     help="sampler: a diffusers class (EulerDiscreteScheduler) or an AUTOMATIC1111 name (\"Euler a\", "
                          "PLMS, DDIM, ...; `ortdiffusion schedulers` lists them); default: the model's own")
    gen.add_argument("--eta", type=float, default=0.0, help="DDIM eta (default 0: deterministic); other schedulers ignore it")
    gen.add_argument("--image", type=Path, help="init image: image-to-image (or the picture to inpaint with --mask)")
    gen.add_argument("--strength", type=float,
                     help="how much of --image to re-draw, in [0, 1] (default 0.8; 1.0 when inpainting)")
    gen.add_argument("--mask", type=Path, help="inpainting mask, white = repaint (needs --image)")
    gen.add_argument("--no-graph-cache", action="store_true",
                     help="do not keep ONNX Runtime's optimized graphs (default: $ORTDIFFUSION_CACHE_DIR or "
                          "~/.cache/ortdiffusion/optimized; later loads skip graph optimization)")
    gen.add_argument("--control-image", type=Path, action="append", help="ControlNet conditioning image (repeatable)")
    gen.add_argument("--canny", type=Path, help="make the ControlNet image from this picture's Canny edges")
    gen.add_argument("--canny-low", type=int, help=f"--canny: lower hysteresis threshold (default {CANNY_LOW})")
    gen.add_argument("--canny-high", type=int, help=f"--canny: upper hysteresis threshold (default {CANNY_HIGH})")
    gen.add_argument("--control-scale", type=float, action="append",
                     help="ControlNet conditioning scale (repeatable, one per ControlNet; default 1.0)")
    gen.add_argument("--control-end", type=float, default=1.0,
                     help="fraction of steps after which ControlNets stop (default 1.0)")
    gen.add_argument("--lora", action="append", metavar="PATH[:WEIGHT]",
                     help="LoRA .safetensors (kohya, diffusers or peft layout) merged with this weight (repeatable); "
                     f"with the embedded model also a shipped LoRA: {', '.join(SHIPPED_LORAS)}")
    gen.add_argument("--embedding", action="append", type=Path, metavar="FILE",
                     help="textual-inversion embedding (.safetensors: diffusers, AUTOMATIC1111 or kohya layout; "
                     "repeatable); its file name without the extension is the word that calls it in prompts, as in "
                     "AUTOMATIC1111 (e.g. easynegative.safetensors -> 'easynegative')")
    gen.add_argument("--deep-cache", type=_positive_int, metavar="N",
                     help="DeepCache: the full UNet every N-th step, its shallow branch in between (about N times "
                          "fewer UNet FLOPs; needs an export made with --deep-cache)")
    gen.add_argument("--vae-decoder", choices=["default", "tiny"], default="default",
                     help="decode with the model's VAE (default) or its tiny decoder (TAESD, added with export --tiny-vae)")
    gen.add_argument("--preview", type=Path, metavar="FILE",
                     help="live preview: rewrite this PNG after every step with the current picture, decoded by the "
                          "model's tiny VAE decoder (export --tiny-vae; the embedded model has one), for an image "
                          "viewer that reloads it")
    gen.add_argument("--vae", type=Path, metavar="FILE",
                     help="use this SD 1.x VAE (.safetensors in diffusers' or the original LDM layout, e.g. the ft-MSE "
                     "VAE) instead of the model's own, without re-export")
    gen.add_argument("--fit", choices=["stretch", "pad"], default="stretch",
                     help="input pictures: 'stretch' resizes to the output size as diffusers does (default); "
                     "'pad' keeps their aspect ratio, pads, and crops the result back")
    gen.add_argument("--provider", default="cpu", help="ONNX Runtime provider (cpu, cuda, ...; default cpu)")
    gen.add_argument("--out", type=_output_file, default=Path("ortdiffusion.png"),
                     help="output .png in an existing folder (default ortdiffusion.png); with --num-images N, "
                          "NAME-0.png ... NAME-(N-1).png")
    gen.add_argument("--quiet", action="store_true",
                     help="no progress bar and no note about the embedded model (warnings still print)")
    gen.set_defaults(func=run)
