"""Credentials: HTTP basic auth (``--api-auth USER:PASS[,...]``, AUTOMATIC1111's) on every route, and for the
OpenAI routes a bearer key (``--api-key``) as OpenAI's clients send it. Compared in constant time."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from ortdiffusion.server.errors import OPENAI_PREFIX, RequestError, error_response
from ortdiffusion.server.settings import ServerSettings


class Unauthorized(RequestError):
    """Missing or wrong credentials (401)."""

    def __init__(self, message: str) -> None:
        super().__init__("Authorization", message, 401)


def _basic_ok(header: str, pairs: tuple[tuple[str, str], ...]) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return any(_same(user, u) & _same(password, p) for u, p in pairs)


def _bearer_ok(header: str, key: str) -> bool:
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and _same(token.strip(), key)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of UTF-8 bytes (``compare_digest`` refuses non-ASCII str)."""
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_credentials(path: str, authorization: str | None, settings: ServerSettings) -> None:
    """Unauthorized unless the request may go on: no credentials configured, valid basic credentials, or (on
    the OpenAI routes) the bearer key."""
    openai_route = path.startswith(OPENAI_PREFIX)
    needs = bool(settings.api_auth) or (openai_route and settings.api_key is not None)
    if not needs:
        return
    header = authorization or ""
    if settings.api_auth and _basic_ok(header, settings.api_auth):
        return
    if openai_route and settings.api_key is not None and _bearer_ok(header, settings.api_key):
        return
    raise Unauthorized("missing or wrong credentials" + (" (Authorization: Basic ... or Bearer KEY)" if openai_route else
                                                        " (HTTP basic auth, as --api-auth sets)"))


class Credentials:
    """ASGI middleware: :func:`check_credentials` on every HTTP request before anything of it is read; a
    refusal is answered 401 in the route's error shape."""

    def __init__(self, app: Any, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """The ASGI entry point."""
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            try:
                check_credentials(scope["path"], authorization, self.settings)
            except Unauthorized as e:
                status, body, extra = error_response(scope["path"], e.status, e.field, str(e), "Unauthorized")
                payload = json.dumps(body).encode()
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in extra.items())]})
                await send({"type": "http.response.body", "body": payload})
                return
        await self.app(scope, receive, send)
