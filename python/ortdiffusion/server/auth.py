"""Credentials: HTTP basic auth (``--api-auth USER:PASS[,...]``, AUTOMATIC1111's) on every route, and for the
OpenAI routes a bearer key (``--api-key``) as OpenAI's clients send it. Compared in constant time."""

from __future__ import annotations

import base64
import binascii
import secrets

from ortdiffusion.server.errors import RequestError
from ortdiffusion.server.settings import ServerSettings

OPENAI_PREFIX = "/v1/"


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
    return any(secrets.compare_digest(user, u) & secrets.compare_digest(password, p) for u, p in pairs)


def _bearer_ok(header: str, key: str) -> bool:
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.strip(), key)


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
