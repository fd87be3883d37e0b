"""Writing a file so that readers see either the old file or the complete new one, never a half-written
one: the content goes to a temporary file in the destination folder, which is renamed over the
destination only when complete (``os.replace`` is atomic within a filesystem). An interrupted write
(exception, KeyboardInterrupt, SIGTERM turned into an exception) removes the temporary file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None], mode: int | None = None) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, set its permission bits to ``mode``
    (None keeps the private 0600 of a fresh temporary file), and rename it onto ``path``; returns ``path``.
    Creates the destination folder if needed."""
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return destination
