"""OpenAI's images API: ``POST /v1/images/generations``, ``POST /v1/images/edits`` (an image and a mask whose
transparent pixels mark what to repaint) and ``GET /v1/models``. Requests become AUTOMATIC1111 ones (20 steps
of DPM++ 2M Karras, CFG 7, the model's own size for ``size`` "auto") and go through the same queue; pictures
come back as ``b64_json`` (PNG with the ``parameters`` chunk)."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

from fastapi import APIRouter, Request
from PIL import Image
from pydantic import BaseModel, ConfigDict

from ortdiffusion.model_folder import read_config
from ortdiffusion.server.a1111_models import Img2ImgRequest, Txt2ImgRequest
from ortdiffusion.server.catalog import ModelEntry
from ortdiffusion.server.errors import RequestError
from ortdiffusion.server.generation import plan_img2img, plan_txt2img, run_plan
from ortdiffusion.server.images import open_image
from ortdiffusion.server.state import ServerState

router = APIRouter(prefix="/v1")
STEPS, SAMPLER, SCHEDULE, CFG = 20, "DPM++ 2M", "karras", 7.0


class GenerationRequest(BaseModel):
    """The fields of OpenAI's ``images.generate`` that apply (others, e.g. quality or style, are ignored)."""

    model_config = ConfigDict(extra="allow")

    prompt: str
    model: str | None = None
    n: int = 1
    size: str | None = None
    response_format: str | None = None
    user: str | None = None


def _state(request: Request) -> ServerState:
    return request.app.state.server


OPENAI_MODELS = ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5")


def _model(state: ServerState, name: str | None) -> ModelEntry:
    """The model a request names; OpenAI's own model names (clients hard-code them) mean the current model."""
    if not name or name in OPENAI_MODELS:
        name = state.options.get()["sd_model_checkpoint"]
    return state.catalog.model(name, "model")


def _size(size: str | None, model: ModelEntry) -> tuple[int, int]:
    """(width, height) of ``"WxH"``; None or "auto": the UNet's sample size x the VAE's scale factor."""
    if size in (None, "", "auto"):
        unet = read_config(model.folder / "unet")
        blocks = len(read_config(model.folder / "vae_decoder").get("block_out_channels", [0] * 4))
        side = int(unet.get("sample_size", 64)) * 2 ** (blocks - 1)
        return side, side
    width, x, height = size.partition("x")
    if not x or not width.isdigit() or not height.isdigit():
        raise RequestError("size", f"size: {size!r} is not WIDTHxHEIGHT or 'auto'")
    return int(width), int(height)


def _check_format(response_format: str | None) -> None:
    if response_format not in (None, "b64_json"):
        raise RequestError("response_format", f"response_format: {response_format!r} is not served; use 'b64_json' "
                           "(this server keeps no files to link to)")


def _openai_response(result: dict[str, Any]) -> dict[str, Any]:
    return {"created": int(time.time()), "data": [{"b64_json": image, "revised_prompt": None} for image in result["images"]]}


@router.post("/images/generations")
async def generations(body: GenerationRequest, request: Request) -> dict[str, Any]:
    """Text to image."""
    state = _state(request)
    _check_format(body.response_format)
    model = _model(state, body.model)
    width, height = _size(body.size, model)
    a1111 = Txt2ImgRequest(prompt=body.prompt, batch_size=body.n, steps=STEPS, sampler_name=SAMPLER, scheduler=SCHEDULE,
                           cfg_scale=CFG, width=width, height=height,
                           override_settings={"sd_model_checkpoint": model.name})
    result = await state.run_job(
        "openai-generation", lambda: plan_txt2img(a1111, state.catalog, state.options, state.settings.limits),
        lambda plan, context: run_plan(plan, state.pool, context))
    return _openai_response(result)


def _b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@router.post("/images/edits")
async def edits(request: Request) -> dict[str, Any]:
    """Inpainting: ``image`` (a file) repainted where ``mask`` (a file; else the image's own alpha) is transparent."""
    state = _state(request)
    limits = state.settings.limits
    async with request.form(max_files=4, max_fields=32) as form:  # closes the uploaded files' spools
        upload = form.get("image") or form.get("image[]")
        if upload is None or not hasattr(upload, "read"):
            raise RequestError("image", "image: a picture file is required")
        image = open_image(await upload.read(), "image", limits.max_input_pixels)
        mask_upload = form.get("mask")
        mask_source = (open_image(await mask_upload.read(), "mask", limits.max_input_pixels)
                       if hasattr(mask_upload, "read") else image)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if mask_source.mode != "RGBA":
        raise RequestError("mask", "mask: needs transparent pixels (an RGBA PNG) marking what to repaint")
    if mask_source.size != image.size:
        raise RequestError("mask", f"mask: {mask_source.width}x{mask_source.height} but image is {image.width}x{image.height}")
    mask = mask_source.getchannel("A").point(lambda a: 255 if a == 0 else 0)  # transparent = repaint
    prompt = fields.get("prompt")
    if not prompt:
        raise RequestError("prompt", "prompt: required")
    _check_format(fields.get("response_format"))
    model = _model(state, fields.get("model"))
    size = fields.get("size")
    width, height = _size(size, model) if size else (image.width - image.width % 8, image.height - image.height % 8)
    count = fields.get("n")
    if count is not None and not count.isdigit():
        raise RequestError("n", f"n: {count!r} is not a whole number")
    a1111 = Img2ImgRequest(prompt=prompt, batch_size=int(count or 1), steps=STEPS, sampler_name=SAMPLER, scheduler=SCHEDULE,
                           cfg_scale=CFG, width=width, height=height, init_images=[_b64_png(image.convert("RGB"))],
                           mask=_b64_png(mask), mask_blur=0, denoising_strength=1.0, inpainting_fill=1,
                           inpaint_full_res=False, override_settings={"sd_model_checkpoint": model.name})
    result = await state.run_job(
        "openai-edit", lambda: plan_img2img(a1111, state.catalog, state.options, limits),
        lambda plan, context: run_plan(plan, state.pool, context))
    return _openai_response(result)


@router.get("/models")
async def models(request: Request) -> dict[str, Any]:
    """The served models."""
    return {"object": "list", "data": [{"id": m.name, "object": "model", "created": 0, "owned_by": "ortdiffusion"}
                                       for m in _state(request).catalog.models()]}
