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
