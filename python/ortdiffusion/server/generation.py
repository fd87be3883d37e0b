"""AUTOMATIC1111 requests as pipeline runs. :func:`plan_txt2img` / :func:`plan_img2img` check and decode a
request on the HTTP thread (every refusal is a RequestError naming the field, before the job is queued) into
a :class:`Plan`; :func:`run_plan` runs it on the job worker: one picture at a time, picture i with seed
seed + i (AUTOMATIC1111's ``all_seeds``), each reproducible alone from its infotext."""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from ortdiffusion.image import canny
from ortdiffusion.mask_crop import apply_overlay, get_crop_region, resize_and_crop, resize_and_fill
from ortdiffusion.png import parameters_text
from ortdiffusion.schedulers.a1111_names import find_sampler_name, scheduler_from_name
from ortdiffusion.server.a1111_models import Img2ImgRequest, Txt2ImgRequest, unsupported_fields
from ortdiffusion.server.catalog import Catalog, ModelEntry
from ortdiffusion.server.errors import NotFound, RequestError
from ortdiffusion.server.images import decode_image, encode_png
from ortdiffusion.server.jobs import Interrupted, JobContext, Skipped
from ortdiffusion.server.options import Options
from ortdiffusion.server.pipeline_pool import PipelinePool
from ortdiffusion.server.prompt_networks import extract_loras
from ortdiffusion.server.settings import Limits

# AUTOMATIC1111's schedule types (the ``scheduler`` field) that ortdiffusion's sampler names carry
SCHEDULE_SUFFIXES = {"automatic": "", "karras": " Karras", "exponential": " Exponential"}
RESIZE_MODES = {0: "just resize", 1: "crop and resize", 2: "resize and fill"}
CONTROLNET_MODULES = ("none", "canny")
MAX_CONTROLNET_UNITS = 8
CONTROLNET_RESIZE = {"just resize": 0, "crop and resize": 1, "resize and fill": 2, "0": 0, "1": 1, "2": 2}
VERSION = "ortdiffusion"


@dataclass
class Plan:
    """A checked request, ready to run: the pipeline (folder, task), the call's arguments, the LoRAs, and
    what the response echoes."""

    kind: str  # "txt2img" or "img2img"
    model: ModelEntry
    task: str
    sampler: str  # AUTOMATIC1111's name, e.g. "DPM++ 2M Karras"
    seeds: list[int]
    call: dict[str, Any]  # arguments shared by every picture's pipeline call
    per_picture: list[dict[str, Any]] = field(default_factory=list)  # extra arguments of picture i (init image ...)
    loras: list[tuple[str, float]] = field(default_factory=list)
    prompt: str = ""
    negative_prompt: str = ""
    clip_skip: int = 1
    denoising_strength: float | None = None
    echo: dict[str, Any] = field(default_factory=dict)
    # inpainting: per picture (mask, original picture, crop box or None) to paste the result into
    overlays: list[tuple[Any, Any, Any]] = field(default_factory=list)


def _check_limits(request: Txt2ImgRequest, limits: Limits) -> None:
    for name in ("width", "height"):
        value = getattr(request, name)
        if not 8 <= value <= limits.max_side:
            raise RequestError(name, f"{name}: {value} is outside 8..{limits.max_side} (the server's limit)")
    if not 1 <= request.steps <= limits.max_steps:
        raise RequestError("steps", f"steps: {request.steps} is outside 1..{limits.max_steps}")
    if request.batch_size < 1 or request.n_iter < 1:
        raise RequestError("batch_size", "batch_size and n_iter must be at least 1")
    if request.batch_size * request.n_iter > limits.max_images:
        raise RequestError("batch_size", f"batch_size x n_iter = {request.batch_size * request.n_iter} pictures, more than "
                           f"the server's limit of {limits.max_images}")
    if not math.isfinite(request.cfg_scale):
        raise RequestError("cfg_scale", "cfg_scale must be a finite number")
    unsupported = unsupported_fields(request)
    if unsupported:
        name = unsupported[0]
        raise RequestError(name, f"{name}={getattr(request, name)!r} is not supported by ortdiffusion (it would change the "
                           "picture in a way this server does not do); leave it at its default")


def _sampler(request: Txt2ImgRequest) -> str:
    """The AUTOMATIC1111 sampler name with the schedule type folded in ("DPM++ 2M" + "karras")."""
    name = request.sampler_name or request.sampler_index or "Euler"
    schedule = (request.scheduler or "automatic").lower()
    if schedule not in SCHEDULE_SUFFIXES:
        raise RequestError("scheduler", f"scheduler: {request.scheduler!r} is not served; choose from "
                           f"{', '.join(SCHEDULE_SUFFIXES)}")
    suffix = SCHEDULE_SUFFIXES[schedule]
    full = name if not suffix or name.endswith(suffix) else name + suffix
    sampler = find_sampler_name(full)
    if sampler is None or not sampler.available:
        raise NotFound("sampler_name", f"sampler_name: {full!r} is not served (GET /sdapi/v1/samplers lists them)")
    return sampler.name


def _seeds(seed: int, count: int) -> list[int]:
    first = secrets.randbelow(2**32) if seed is None or seed < 0 else int(seed)
    return [first + i for i in range(count)]


def _common(request: Txt2ImgRequest, catalog: Catalog, options: Options, limits: Limits) -> dict[str, Any]:
    _check_limits(request, limits)
    settings = options.resolve(request.override_settings or {}, "override_settings.")
    model = catalog.model(settings["sd_model_checkpoint"], "sd_model_checkpoint")
    prompt, loras = extract_loras(request.prompt, "prompt")
    negative, negative_loras = extract_loras(request.negative_prompt, "negative_prompt")
    loras = [] if request.disable_extra_networks else loras + negative_loras
    for name, _ in loras:
        catalog.lora(name, "prompt")
    return {"settings": settings, "model": model, "prompt": prompt, "negative": negative, "loras": loras,
            "sampler": _sampler(request), "seeds": _seeds(request.seed, request.batch_size * request.n_iter),
            "clip_skip": int(settings["CLIP_stop_at_last_layers"])}


def _controlnet_units(request: Txt2ImgRequest, catalog: Catalog, limits: Limits) -> list[dict[str, Any]]:
    """The enabled units of the ControlNet extension's ``alwayson_scripts`` entry, checked and decoded."""
    scripts = {k.lower(): v for k, v in (request.alwayson_scripts or {}).items()}
    unknown = sorted(set(scripts) - {"controlnet"})
    if unknown:
        raise RequestError("alwayson_scripts", f"alwayson_scripts: {unknown[0]!r} is not served (only the ControlNet "
                           "extension's units)")
    args = (scripts.get("controlnet") or {}).get("args", []) if isinstance(scripts.get("controlnet"), dict) else []
    if not isinstance(args, list) or len(args) > MAX_CONTROLNET_UNITS:
        raise RequestError("alwayson_scripts", f"alwayson_scripts.controlnet.args: a list of at most "
                           f"{MAX_CONTROLNET_UNITS} units")
    units = []
    for k, unit in enumerate(args):
        where = f"alwayson_scripts.controlnet.args[{k}]"
        if not isinstance(unit, dict) or not unit.get("enabled", True) or str(unit.get("model", "None")) in ("None", ""):
            continue
        module = str(unit.get("module", "none")).lower()
        if module not in CONTROLNET_MODULES:
            raise RequestError(f"{where}.module", f"{where}.module: {module!r} is not served (choose from "
                               f"{', '.join(CONTROLNET_MODULES)})")
        mode = unit.get("control_mode", "Balanced")
        if mode not in ("Balanced", 0, "0"):
            raise RequestError(f"{where}.control_mode", f"{where}.control_mode: only 'Balanced' is served, got {mode!r}")
        resize = CONTROLNET_RESIZE.get(str(unit.get("resize_mode", "Resize and Fill")).lower())
        if resize is None:
            raise RequestError(f"{where}.resize_mode", f"{where}.resize_mode: {unit.get('resize_mode')!r} is not known")
        image = unit.get("image") or unit.get("input_image")
        if isinstance(image, dict):
            image = image.get("image")
        model = catalog.model(str(unit["model"]), f"{where}.model")
        if not model.is_controlnet:
            raise NotFound(f"{where}.model", f"{where}.model: {model.name!r} has no ControlNet (GET /controlnet/model_list)")
        numbers = {}
        for key, default in (("weight", 1.0), ("guidance_start", 0.0), ("guidance_end", 1.0), ("threshold_a", 100),
                             ("threshold_b", 200)):
            value = unit.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RequestError(f"{where}.{key}", f"{where}.{key}: must be a number, got {value!r}")
            numbers[key] = float(value)
        low = int(numbers["threshold_a"]) if numbers["threshold_a"] >= 1 else 100  # -1: the module's default
        high = int(numbers["threshold_b"]) if numbers["threshold_b"] >= 1 else 200
        units.append({
            "model": model, "module": module, "resize": resize,
            "image": decode_image(image, f"{where}.image", limits.max_input_pixels),
            "weight": numbers["weight"], "start": numbers["guidance_start"], "end": numbers["guidance_end"],
            "low": low, "high": high,
        })
    if len({u["model"].folder for u in units}) > 1:
        raise RequestError("alwayson_scripts", "alwayson_scripts: every enabled ControlNet unit must name the same "
                           "exported ControlNet model (its ControlNets are fused into one graph)")
    return units


def _fit(image: Image.Image, width: int, height: int, mode: int) -> Image.Image:
    """AUTOMATIC1111's resize modes: 0 stretch, 1 crop to the ratio, 2 fit and fill the margins."""
    if mode == 1:
        return resize_and_crop(image, width, height)
    if mode == 2:
        return resize_and_fill(image, width, height)
    return image.convert("RGB").resize((width, height), resample=Image.Resampling.LANCZOS)


def _control_arguments(units: list[dict[str, Any]], width: int, height: int) -> dict[str, Any]:
    images = []
    for unit in units:
        picture = _fit(unit["image"], width, height, unit["resize"])
        if unit["module"] == "canny":
            picture = canny(picture, unit["low"], unit["high"])
        images.append(picture)
    return {"image": images[0] if len(images) == 1 else images,
            "controlnet_conditioning_scale": [u["weight"] for u in units],
            "control_guidance_start": [u["start"] for u in units], "control_guidance_end": [u["end"] for u in units]}


def plan_txt2img(request: Txt2ImgRequest, catalog: Catalog, options: Options, limits: Limits) -> Plan:
    """Check ``request`` and decode its inputs."""
    common = _common(request, catalog, options, limits)
    units = _controlnet_units(request, catalog, limits)
    model, task = common["model"], "txt2img"
    call: dict[str, Any] = {"height": request.height, "width": request.width}
    if units:
        model, task = units[0]["model"], "controlnet"
        call.update(_control_arguments(units, request.width, request.height))
    return _plan("txt2img", request, common, model, task, call, [])


def plan_img2img(request: Img2ImgRequest, catalog: Catalog, options: Options, limits: Limits) -> Plan:
    """Check ``request`` and decode its pictures (init images, mask, ControlNet units)."""
    common = _common(request, catalog, options, limits)
    if not request.init_images:
        raise RequestError("init_images", "init_images: at least one picture is needed")
    if request.resize_mode not in RESIZE_MODES:
        raise RequestError("resize_mode", f"resize_mode: {request.resize_mode} is not served (0 just resize, 1 crop and "
                           "resize, 2 resize and fill)")
    strength = 0.75 if request.denoising_strength is None else float(request.denoising_strength)
    if not 0.0 <= strength <= 1.0:
        raise RequestError("denoising_strength", f"denoising_strength: {strength} is outside [0, 1]")
    size = (request.width, request.height)
    if len(request.init_images) > limits.max_images:
        raise RequestError("init_images", f"init_images: {len(request.init_images)} pictures, more than the server's "
                           f"limit of {limits.max_images}")
    used = request.init_images[: len(common["seeds"])]  # picture i takes init image i modulo their number
    inits = [decode_image(v, f"init_images[{k}]", limits.max_input_pixels).convert("RGB") for k, v in enumerate(used)]
    full_res = bool(request.mask) and request.inpaint_full_res  # crops at the pictures' own size: not resized
    if not full_res:
        inits = [_fit(image, *size, request.resize_mode) for image in inits]
    units = _controlnet_units(request, catalog, limits)
    model, task = common["model"], "img2img"
    call: dict[str, Any] = {"height": request.height, "width": request.width, "strength": strength}
    overlays: list[tuple[Image.Image, Image.Image, tuple[int, int, int, int] | None]] = []
    if request.mask:
        if units:
            raise RequestError("mask", "mask: inpainting with ControlNet units is not served")
        if request.inpainting_fill not in (0, 1):
            raise RequestError("inpainting_fill", f"inpainting_fill: {request.inpainting_fill} (latent noise / nothing) is "
                               "not served; use 0 (fill) or 1 (original)")
        mask = _mask(request, limits, None if full_res else size)
        if any(image.size != mask.size for image in inits):
            raise RequestError("mask", f"mask: the mask is {mask.width}x{mask.height} but init_images are "
                               f"{', '.join(f'{i.width}x{i.height}' for i in inits)}; they must be the same size")
        originals = inits
        if request.inpainting_fill == 0:
            inits = [fill_masked(image, mask) for image in inits]
        model_mask, crop = mask, None
        if full_res:  # "only masked": the mask's box at full size (diffusers' padding_mask_crop steps)
            crop = get_crop_region(mask, *size, pad=max(int(request.inpaint_full_res_padding), 0))
            inits = [resize_and_fill(image.crop(crop), *size) for image in inits]
            model_mask = resize_and_fill(mask.crop(crop), *size).convert("L")
        model, task = catalog.inpainting_model(common["model"]), "inpaint"
        call["mask_image"] = model_mask
        # AUTOMATIC1111 always pastes the result into the original (before "fill") under the mask
        overlays = [(mask, originals[i % len(originals)], crop) for i in range(len(common["seeds"]))]
    elif units:
        model, task = units[0]["model"], "controlnet_img2img"
        control = _control_arguments(units, request.width, request.height)
        control["control_image"] = control.pop("image")
        call.update(control)
    per_picture = [{"image": inits[i % len(inits)]} for i in range(len(common["seeds"]))]
    plan = _plan("img2img", request, common, model, task, call, per_picture)
    plan.denoising_strength, plan.overlays = strength, overlays
    return plan


def _mask(request: Img2ImgRequest, limits: Limits, size: tuple[int, int] | None) -> Image.Image:
    """The request's mask as AUTOMATIC1111 prepares it (processing.py): binary from the alpha channel of a
    transparent RGBA picture (alpha > 128) or the grey levels, inverted on request, blurred by a separable
    Gaussian of sigma mask_blur_x / mask_blur_y (kernel 2 * int(2.5 sigma + 0.5) + 1), then resized to ``size``
    (None: kept at its size, for inpaint_full_res)."""
    import cv2

    mask = decode_image(request.mask, "mask", limits.max_input_pixels)
    if mask.mode == "RGBA" and mask.getextrema()[-1] != (255, 255):
        mask = mask.split()[-1].convert("L").point(lambda x: 255 if x > 128 else 0)
    else:
        mask = mask.convert("L")
    if request.inpainting_mask_invert:
        mask = ImageOps.invert(mask)
    blur_x = request.mask_blur if request.mask_blur is not None else request.mask_blur_x
    blur_y = request.mask_blur if request.mask_blur is not None else request.mask_blur_y
    array = np.array(mask)
    if blur_x > 0:
        array = cv2.GaussianBlur(array, (2 * int(2.5 * blur_x + 0.5) + 1, 1), blur_x)
    if blur_y > 0:
        array = cv2.GaussianBlur(array, (1, 2 * int(2.5 * blur_y + 0.5) + 1), blur_y)
    mask = Image.fromarray(array)
    if size is not None:
        mask = _fit(mask.convert("RGB"), *size, request.resize_mode).convert("L")
    if not np.asarray(mask).any():
        raise RequestError("mask", "mask: the mask is black everywhere, so there is nothing to inpaint")
    return mask


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """AUTOMATIC1111's "fill" (inpainting_fill 0, modules/masking.py ``fill``): the masked area painted with the
    colours around it, by compositing ever less blurred copies of the unmasked picture."""
    image_mod = Image.new("RGBA", image.size)
    image_masked = Image.new("RGBa", image.size)
    image_masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    image_masked = image_masked.convert("RGBa")
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = image_masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            image_mod.alpha_composite(blurred)
    return image_mod.convert("RGB")


def _plan(kind: str, request: Txt2ImgRequest, common: dict[str, Any], model: ModelEntry, task: str,
          call: dict[str, Any], per_picture: list[dict[str, Any]]) -> Plan:
    call.update(num_inference_steps=request.steps, guidance_scale=request.cfg_scale, prompt_syntax="a1111")
    if request.eta is not None:
        call["eta"] = float(request.eta)
    if common["clip_skip"] > 1:
        call["clip_skip"] = common["clip_skip"] - 1
    echo = request.model_dump()
    if isinstance(request, Img2ImgRequest) and not request.include_init_images:
        echo["init_images"], echo["mask"] = None, None
    return Plan(kind, model, task, common["sampler"], common["seeds"], call, per_picture, common["loras"],
                common["prompt"], common["negative"], common["clip_skip"], None, echo)


def _picture_parameters(plan: Plan, prompt: str, negative: str, seed: int, size: tuple[int, int]) -> dict[str, Any]:
    """One picture's generation parameters: its infotext (png.parameters_text) and its PNG chunks are made from them."""
    return {"prompt": prompt, "negative_prompt": negative, "steps": plan.call["num_inference_steps"],
            "scheduler": plan.sampler, "guidance_scale": plan.call["guidance_scale"], "seed": seed,
            "size": f"{size[0]}x{size[1]}", "model": plan.model.name, "strength": plan.denoising_strength,
            "prompt_syntax": "a1111", "clip_skip": plan.clip_skip if plan.clip_skip > 1 else None}


def run_plan(plan: Plan, pool: PipelinePool, context: JobContext) -> dict[str, Any]:
    """Generate the plan's pictures on the job worker; AUTOMATIC1111's response (images, parameters, info).
    An interrupt keeps the pictures finished so far (and the current one as far as it got); a skip drops the
    current picture."""
    pipe = pool.get(plan.model.folder, plan.task)
    pool.apply_loras(pipe, plan.loras)
    pipe.scheduler = scheduler_from_name(plan.sampler, pool.scheduler_config(pipe))
    request_prompt, request_negative = plan.echo.get("prompt", ""), plan.echo.get("negative_prompt", "")
    pictures, parameters, seeds = [], [], []
    steps = plan.call["num_inference_steps"]
    if plan.denoising_strength is not None:
        steps = max(min(int(steps * plan.denoising_strength), steps), 1)
    for index, seed in enumerate(plan.seeds):
        context.picture(index, len(plan.seeds), steps)
        current: dict[str, Any] = {}

        def on_step(pipeline: Any, i: int, t: Any, tensors: dict[str, Any], current: dict = current) -> dict[str, Any]:
            latents = current["latents"] = tensors.get("latents")
            context.step(i + 1, (lambda: pipe.preview(latents)) if latents is not None else None)
            return tensors

        arguments = {**plan.call, **(plan.per_picture[index] if plan.per_picture else {})}
        interrupted = False
        try:
            result = pipe(plan.prompt, negative_prompt=plan.negative_prompt or None, generator=seed,
                          callback_on_step_end=on_step, **arguments)
            picture = result.images[0]
        except Skipped:
            continue
        except Interrupted:
            if current.get("latents") is None:
                break
            picture, interrupted = pipe.decode(np.array(current["latents"]), "pil", True).images[0], True
        if plan.overlays:
            mask, original, crop = plan.overlays[index]
            picture = apply_overlay(mask, original, picture, crop)
        pictures.append(picture)
        parameters.append(_picture_parameters(plan, request_prompt, request_negative, seed, picture.size))
        seeds.append(seed)
        if interrupted:
            break
    images = [encode_png(picture, params) for picture, params in zip(pictures, parameters)]
    infotexts = [parameters_text(params) for params in parameters]
    width, height = (pictures[0].size if pictures else (plan.call["width"], plan.call["height"]))
    info = {
        "prompt": request_prompt, "all_prompts": [request_prompt] * len(pictures), "negative_prompt": request_negative,
        "all_negative_prompts": [request_negative] * len(pictures), "seed": plan.seeds[0], "all_seeds": seeds,
        "subseed": -1, "all_subseeds": [-1] * len(pictures), "subseed_strength": 0, "width": width, "height": height,
        "sampler_name": plan.sampler, "cfg_scale": plan.call["guidance_scale"], "steps": plan.call["num_inference_steps"],
        "batch_size": int(plan.echo.get("batch_size", 1)), "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": plan.model.name, "sd_model_hash": plan.model.hash, "sd_vae_name": None, "sd_vae_hash": None,
        "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": plan.denoising_strength,
        "extra_generation_params": {"Lora": ", ".join(f"{n}:{w}" for n, w in plan.loras)} if plan.loras else {},
        "index_of_first_image": 0, "infotexts": infotexts, "styles": [], "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "clip_skip": plan.clip_skip, "is_using_inpainting_conditioning": plan.task == "inpaint", "version": VERSION,
    }
    return {"images": images if plan.echo.get("send_images", True) else [], "parameters": plan.echo,
            "info": json.dumps(info)}
