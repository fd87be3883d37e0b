"""Writing a file so that readers see either the old file or the complete new one, never a half-written
one: the content goes to a temporary file in the destination folder, which is renamed over the
destination only when complete (``os.replace`` is atomic within a filesystem). An interrupted write
(exception, KeyboardInterrupt, SIGTERM turned into an exception) removes the temporary file. Whole
output folders (exports, converted copies) are staged in a hidden sibling and moved into place the same
way."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


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


def current_umask() -> int:
    """The process umask, read without changing it (Linux /proc), else the usual 022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def publish_permissions(root: Path) -> None:
    """Give a staged output folder (created private, 0600/0700, by tempfile) and everything in it the
    usual modes under the process umask, before it is renamed into place."""
    umask = current_umask()
    root.chmod(0o777 & ~umask)
    for path in root.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def check_output_folder(output: Path, overwrite: bool) -> None:
    """Refuse an output that names no folder ('.', '..') or exists without ``overwrite``."""
    if not output.name or output.name in (".", ".."):
        raise ValueError(f"output {str(output)!r} must name a folder (not '.' or '..')")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass overwrite=True (--overwrite) to replace it")


def staging_folder(output: Path) -> Path:
    """A fresh private folder beside ``output`` (hidden, ``.NAME.partial-*``) to build it in."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))


def move_folder_into_place(staging: Path, output: Path, overwrite: bool) -> None:
    """Rename the finished ``staging`` folder to ``output``. An existing ``output`` (allowed by
    ``overwrite``) is moved aside first and put back if the rename fails, then removed."""
    if output.exists():
        check_output_folder(output, overwrite)
        trash = output.with_name(f".{output.name}.old-{time.time_ns()}")
        output.rename(trash)
        try:
            staging.rename(output)
        except BaseException:
            trash.rename(output)  # put the previous folder back
            raise
        shutil.rmtree(trash)
    else:
        staging.rename(output)


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as diffusers formats configs (sorted keys, 2-space indent) through a temporary
    file in the same folder, renamed into place only when complete."""
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
