"""What a server serves and its limits: folders, credentials, queue size, and bounds on every request so a
small machine is not run out of memory by one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Per-request bounds; requests past them get 422 naming the field."""

    max_side: int = 1024  # width and height of generated pictures, pixels
    max_steps: int = 150
    max_images: int = 16  # batch_size x n_iter (AUTOMATIC1111), n (OpenAI)
    max_body_bytes: int = 32 * 1024 * 1024
    max_input_pixels: int = 4096 * 4096  # each decoded input picture (init image, mask, control image)


@dataclass(frozen=True)
class ServerSettings:
    """``models_dir``: exported pipeline folders, one per subfolder (served by folder name); the embedded
    model's names are always served. ``model``: the model loaded first (default: the embedded model).
    ``lora_dir`` / ``embeddings_dir``: .safetensors files named by their stem. ``api_auth``: (user, password)
    pairs for HTTP basic auth on every route; ``api_key``: a bearer key the OpenAI routes also accept.
    ``queue_size``: jobs waiting beyond the running one before requests get 429. ``loaded_models``: how many
    pipelines (model, task) stay loaded."""

    models_dir: Path | None = None
    model: str | None = None
    lora_dir: Path | None = None
    embeddings_dir: Path | None = None
    api_auth: tuple[tuple[str, str], ...] = ()
    api_key: str | None = None
    queue_size: int = 16
    loaded_models: int = 4
    limits: Limits = field(default_factory=Limits)
    graph_cache: bool = True

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {self.queue_size}")
        if self.loaded_models < 1:
            raise ValueError(f"loaded_models must be at least 1, got {self.loaded_models}")


def parse_api_auth(value: str) -> tuple[tuple[str, str], ...]:
    """``"user:pass,user2:pass2"`` (AUTOMATIC1111's ``--api-auth``) as pairs; ValueError for a pair without a
    colon or with an empty user or password."""
    pairs = []
    for item in value.split(","):
        user, colon, password = item.strip().partition(":")
        if not colon or not user or not password:
            raise ValueError(f"--api-auth: {item.strip()!r} is not USER:PASSWORD")
        pairs.append((user, password))
    return tuple(pairs)
