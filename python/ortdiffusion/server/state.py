"""What the routes share: settings, the catalog of names, the options, the pipelines and the job queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool

from ortdiffusion.server.catalog import Catalog
from ortdiffusion.server.errors import RequestError
from ortdiffusion.server.jobs import JobContext, JobQueue, QueueFull, ShuttingDown
from ortdiffusion.server.options import Options
from ortdiffusion.server.pipeline_pool import PipelinePool
from ortdiffusion.server.settings import ServerSettings


class Busy(RequestError):
    """The queue is full (429, with Retry-After)."""

    def __init__(self, message: str) -> None:
        super().__init__("queue", message, 429)


@dataclass
class ServerState:
    """One server's shared objects (built by :func:`ortdiffusion.server.create_app`)."""

    settings: ServerSettings
    catalog: Catalog
    options: Options
    pool: PipelinePool
    queue: JobQueue

    @classmethod
    def build(cls, settings: ServerSettings) -> ServerState:
        """Everything for ``settings``; starts the job worker."""
        catalog = Catalog(settings)
        return cls(settings, catalog, Options(catalog, settings.model),
                   PipelinePool(catalog, settings.loaded_models, settings.graph_cache), JobQueue(settings.queue_size))

    async def run_job(self, name: str, prepare: Callable[[], Any], run: Callable[[Any, JobContext], Any]) -> Any:
        """``prepare()`` on a thread of the HTTP pool (decoding pictures; refusals raise here, before queueing),
        then ``run(prepared, context)`` on the job worker; awaits its result without blocking the event loop."""
        if self.queue.waiting >= self.queue.size:  # before decoding anything of a request that cannot wait
            raise Busy(f"the server is busy: {self.queue.waiting} jobs are waiting; retry in a few seconds")
        prepared = await run_in_threadpool(prepare)
        try:
            future = self.queue.submit(name, lambda context: run(prepared, context))
        except QueueFull as e:
            raise Busy(f"the server is busy: {e}; retry in a few seconds") from None
        except RuntimeError as e:  # closed
            raise RequestError("server", str(e), 503) from None
        try:
            return await asyncio.wrap_future(future)
        except ShuttingDown as e:
            raise RequestError("server", str(e), 503) from None
