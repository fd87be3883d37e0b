"""The ControlNet extension's routes (``/controlnet/version``, ``model_list``, ``module_list``): its models are
the served folders with ControlNets fused into the UNet."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ortdiffusion.server.generation import CONTROLNET_MODULES

router = APIRouter(prefix="/controlnet")
VERSION = 2


@router.get("/version")
async def version() -> dict[str, int]:
    """The extension API version clients check."""
    return {"version": VERSION}


@router.get("/model_list")
async def model_list(request: Request) -> dict[str, list[str]]:
    """The ControlNet models (exported folders with ControlNets fused in)."""
    return {"model_list": [m.title for m in request.app.state.server.catalog.controlnets()]}


@router.get("/module_list")
async def module_list() -> dict[str, Any]:
    """The preprocessors served: none (the picture is the condition) and canny."""
    detail = {"none": {"sliders": []}, "canny": {"sliders": [
        {"name": "Low Threshold", "value": 100, "min": 1, "max": 255}, {"name": "High Threshold", "value": 200, "min": 1, "max": 255}]}}
    return {"module_list": list(CONTROLNET_MODULES), "module_detail": detail}
