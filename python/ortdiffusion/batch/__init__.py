"""Batch generation: a prompt file (JSON Lines, CSV or Parquet) to one PNG per row and a manifest, in this process
or on a Ray cluster (the [ray] extra). ``ortdiffusion batch`` on the command line; docs/batch.md."""

from ortdiffusion.batch.rows import BatchRow, RowError
from ortdiffusion.batch.run import BatchFailed, BatchReport, batch
from ortdiffusion.batch.runner import BatchOptions

__all__ = ["BatchFailed", "BatchOptions", "BatchReport", "BatchRow", "RowError", "batch"]
