"""The web page at ``/``: three static files shipped in the package (no CDN, nothing fetched from elsewhere),
driving the AUTOMATIC1111 routes of the same server."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from ortdiffusion.server.errors import NotFound

router = APIRouter()
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "style.css": "text/css; charset=utf-8"}


def _file(name: str) -> Response:
    if name not in FILES:
        raise NotFound("path", f"no page file {name!r}")
    content = (resources.files("ortdiffusion.server") / "ui" / name).read_bytes()
    return Response(content, media_type=FILES[name], headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def page() -> Response:
    """The page."""
    return _file("index.html")


@router.get("/ui/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    """Its script and style sheet."""
    return _file(name)
