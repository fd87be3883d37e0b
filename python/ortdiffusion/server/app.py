"""The FastAPI application: :func:`create_app` builds one from :class:`ServerSettings` (tests build their own),
with credentials checked on every route, request bodies bounded, and every error answered as JSON naming the
field (AUTOMATIC1111's shape on its routes, OpenAI's on ``/v1``), never a stack trace."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ortdiffusion.server import routes_controlnet, routes_openai, routes_sdapi, routes_ui
from ortdiffusion.server.auth import Credentials
from ortdiffusion.server.body_limit import BodyLimit
from ortdiffusion.server.errors import RequestError, error_response
from ortdiffusion.server.settings import ServerSettings
from ortdiffusion.server.state import ServerState

logger = logging.getLogger(__name__)


def _error(request: Request, status: int, field: str, message: str, kind: str) -> JSONResponse:
    status, body, headers = error_response(request.url.path, status, field, message, kind)
    return JSONResponse(body, status_code=status, headers=headers or None)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The server for ``settings`` (defaults: the embedded model, no credentials). The job worker starts now
    and stops when the application shuts down."""
    settings = settings or ServerSettings()
    state = ServerState.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.queue.close()

    app = FastAPI(title="ortdiffusion", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state
    for router in (routes_sdapi.router, routes_openai.router, routes_controlnet.router, routes_ui.router):
        app.include_router(router)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, e: RequestError) -> JSONResponse:
        return _error(request, e.status, e.field, str(e), type(e).__name__)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        if first.get("type") == "json_invalid":  # loc is ("body", character position)
            return _error(request, 422, "body", f"body: malformed JSON ({first.get('msg', '')})", "ValidationError")
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = ".".join(location) or "body"
        return _error(request, 422, field, f"{field}: {first.get('msg', 'invalid request')}", "ValidationError")

    @app.exception_handler(ValueError)
    async def value_error(request: Request, e: ValueError) -> JSONResponse:  # a pipeline's refusal of an argument
        return _error(request, 422, "request", str(e), type(e).__name__)

    @app.exception_handler(Exception)
    async def server_error(request: Request, e: Exception) -> JSONResponse:
        logger.exception("request %s failed", request.url.path)
        return _error(request, 500, "", f"internal error ({type(e).__name__}); see the server's log", type(e).__name__)

    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(Credentials, settings=settings)  # outermost: nothing is read before the credentials pass
    return app
