"""AUTOMATIC1111's ``/sdapi/v1`` routes, with its field names and response shapes (modules/api/api.py)."""

from __future__ import annotations

import os
import resource
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from ortdiffusion.schedulers.a1111_names import SAMPLER_NAMES
from ortdiffusion.server.a1111_models import Img2ImgRequest, Txt2ImgRequest
from ortdiffusion.server.errors import RequestError
from ortdiffusion.server.generation import SCHEDULE_SUFFIXES, plan_img2img, plan_txt2img, run_plan
from ortdiffusion.server.images import decode_image, encode_png
from ortdiffusion.server.infotext import parse_infotext
from ortdiffusion.server.state import ServerState

router = APIRouter(prefix="/sdapi/v1")


def _state(request: Request) -> ServerState:
    return request.app.state.server


async def _generate(request: Request, name: str, plan: Any, body: Txt2ImgRequest) -> dict[str, Any]:
    state = _state(request)
    return await state.run_job(name, lambda: plan(body, state.catalog, state.options, state.settings.limits),
                               lambda prepared, context: run_plan(prepared, state.pool, context))


@router.post("/txt2img")
async def txt2img(body: Txt2ImgRequest, request: Request) -> dict[str, Any]:
    """Text to image (ControlNet units through ``alwayson_scripts``)."""
    return await _generate(request, "txt2img", plan_txt2img, body)


@router.post("/img2img")
async def img2img(body: Img2ImgRequest, request: Request) -> dict[str, Any]:
    """Image to image, and inpainting with ``mask``."""
    return await _generate(request, "img2img", plan_img2img, body)


@router.get("/options")
async def get_options(request: Request) -> dict[str, Any]:
    """The current options."""
    return _state(request).options.get()


@router.post("/options")
async def set_options(changes: dict[str, Any], request: Request) -> None:
    """Change options (``sd_model_checkpoint`` switches the model for the following requests)."""
    _state(request).options.update(changes)


@router.get("/progress")
async def progress(request: Request, skip_current_image: bool = False) -> dict[str, Any]:
    """The running job's progress; with the ``live_previews_enable`` option, ``current_image`` is a picture of its
    current step through the model's tiny VAE decoder (base64 PNG; null when the model has none)."""
    state = _state(request)
    result = state.queue.progress()
    if not skip_current_image and state.options.get().get("live_previews_enable"):
        picture = await run_in_threadpool(state.queue.current_preview)
        result["current_image"] = encode_png(picture, {}) if picture is not None else None
    return result


@router.post("/interrupt")
async def interrupt(request: Request) -> dict[str, Any]:
    """Stop the running job at its next step; it answers with the pictures it has."""
    _state(request).queue.interrupt()
    return {}


@router.post("/skip")
async def skip(request: Request) -> dict[str, Any]:
    """Drop the running job's current picture."""
    _state(request).queue.skip()
    return {}


@router.get("/sd-models")
async def sd_models(request: Request) -> list[dict[str, Any]]:
    """The served models, as AUTOMATIC1111 lists checkpoints."""
    return [{"title": m.title, "model_name": m.name, "hash": m.hash, "sha256": None, "filename": str(m.folder),
             "config": None} for m in _state(request).catalog.models()]


@router.post("/refresh-checkpoints")
async def refresh_checkpoints() -> None:
    """The model list is read on every request: nothing to refresh."""


@router.get("/samplers")
async def samplers() -> list[dict[str, Any]]:
    """The AUTOMATIC1111 sampler names served (schedule variants through ``scheduler``)."""
    suffixes = tuple(s for s in SCHEDULE_SUFFIXES.values() if s)
    names = [s for s in SAMPLER_NAMES if s.available and not s.name.endswith(suffixes)]
    return [{"name": s.name, "aliases": [s.class_name], "options": {}} for s in names]


@router.get("/schedulers")
async def schedulers() -> list[dict[str, Any]]:
    """The schedule types served (AUTOMATIC1111 1.9's ``scheduler`` field)."""
    return [{"name": name, "label": name.capitalize(), "aliases": None, "default_rho": -1, "need_inner_model": False}
            for name in SCHEDULE_SUFFIXES]


@router.get("/loras")
async def loras(request: Request) -> list[dict[str, Any]]:
    """The LoRAs ``<lora:name:weight>`` can name."""
    return [{"name": name, "alias": name, "path": str(path), "metadata": {}}
            for name, path in _state(request).catalog.loras().items()]


@router.post("/refresh-loras")
async def refresh_loras() -> None:
    """The LoRA folder is read on every request: nothing to refresh."""


@router.get("/embeddings")
async def embeddings(request: Request) -> dict[str, Any]:
    """Textual-inversion embeddings: loaded into every pipeline, or skipped with the reason."""
    state = _state(request)
    skipped = dict(state.pool.skipped_embeddings)
    loaded = {name: {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None, "shape": None, "vectors": None}
              for name in state.catalog.embeddings() if name not in skipped}
    return {"loaded": loaded, "skipped": {name: {"reason": why} for name, why in skipped.items()}}


@router.get("/sd-vae")
async def sd_vae() -> list[dict[str, Any]]:
    """Each model's own VAE is used; no separate VAE files are served yet."""
    return []


@router.get("/upscalers")
async def upscalers() -> list[dict[str, Any]]:
    """No upscalers (hires fix is refused)."""
    return [{"name": "None", "model_name": None, "model_path": None, "model_url": None, "scale": 4}]


@router.get("/latent-upscale-modes")
async def latent_upscale_modes() -> list[dict[str, Any]]:
    """No latent upscaling (hires fix is refused)."""
    return []


@router.get("/scripts")
async def scripts() -> dict[str, list[str]]:
    """The always-on scripts served: the ControlNet extension's units."""
    return {"txt2img": ["controlnet"], "img2img": ["controlnet"]}


@router.get("/memory")
async def memory() -> dict[str, Any]:
    """The machine's and this process's memory, as AUTOMATIC1111 reports them (no CUDA here)."""
    pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    free = os.sysconf("SC_AVPHYS_PAGES") * page
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"ram": {"free": free, "used": pages * page - free, "total": pages * page, "process_peak_rss": rss},
            "cuda": {"error": "ortdiffusion serves on ONNX Runtime's CPU provider"}}


@router.post("/png-info")
async def png_info(body: dict[str, Any], request: Request) -> dict[str, Any]:
    """The text chunks of a PNG (``image``: base64), with ``parameters`` parsed."""
    if "image" not in body:
        raise RequestError("image", "image: a base64-encoded PNG is required")
    picture = decode_image(body["image"], "image", _state(request).settings.limits.max_input_pixels)
    items = {k: v for k, v in picture.info.items() if isinstance(v, str)}
    text = items.pop("parameters", "")
    return {"info": text, "items": items, "parameters": parse_infotext(text) if text else {}}
