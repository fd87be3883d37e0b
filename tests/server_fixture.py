"""A live ``ortdiffusion serve`` for the tests: uvicorn on 127.0.0.1 and a free port, in a thread of the test
process, stopped when the test module ends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ortdiffusion.server import ServerSettings, create_app


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice for a bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """Where the server listens, and its application (for inspecting its state)."""

    port: int
    app: object

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def live_server(settings: ServerSettings) -> Iterator[LiveServer]:
    """Serve ``settings`` until the block ends (then the server shuts down and its job worker stops)."""
    import uvicorn

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(port, app)
    finally:
        server.should_exit = True
        thread.join(30)
