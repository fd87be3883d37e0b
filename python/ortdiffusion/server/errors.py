"""Errors a request can cause, each naming the request field at fault; the app turns them into one JSON shape
(AUTOMATIC1111's or OpenAI's) with a 4xx status and no stack trace."""

from __future__ import annotations


class RequestError(ValueError):
    """A request the server refuses: ``field`` names what was wrong, ``status`` is the HTTP status (422 for a
    value that cannot be honoured, 404 for a name that is not served, 413 for a body or picture too big)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class NotFound(RequestError):
    """A name (model, LoRA, embedding, sampler) that is not served, or refused because it leaves its folder."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, 404)


OPENAI_PREFIX = "/v1/"
RETRY_AFTER_SECONDS = 5


def error_response(path: str, status: int, field: str, message: str, kind: str) -> tuple[int, dict, dict[str, str]]:
    """(status, JSON body, headers) of an error on route ``path``: OpenAI's shape on ``/v1`` (400 for a bad
    field, as OpenAI answers), AUTOMATIC1111's elsewhere (with ``field`` added); Retry-After on 429, the basic
    auth challenge on 401."""
    if path.startswith(OPENAI_PREFIX):
        status = 400 if status == 422 else status
        body: dict = {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                                "param": field, "code": None}}
    else:
        body = {"error": kind, "field": field, "detail": message, "body": "", "errors": message}
    headers = {}
    if status == 429:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ortdiffusion"'
    return status, body, headers
