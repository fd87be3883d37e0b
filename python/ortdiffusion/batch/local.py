"""The in-process loop: one :class:`RowRunner`, the rows one after another (no Ray needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ortdiffusion.batch.rows import BatchRow
from ortdiffusion.batch.runner import BatchOptions, RowRunner


def run_local(rows: list[BatchRow], out: Path, options: BatchOptions, loras: list[str],
              done: Callable[[dict[str, Any]], bool]) -> None:
    """Run ``rows`` here; ``done(record)`` is told of each finished row and returns False to stop (fail-fast)."""
    runner = RowRunner(out, options, loras)
    for row in rows:
        if not done(runner.run(row)):
            return
