"""``ortdiffusion.batch``: a prompt file in, one PNG per row and a manifest out, in-process or on Ray."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ortdiffusion.batch.outputs import (
    MANIFEST,
    completed_record,
    error_entry,
    remove_stale_temporaries,
    write_manifest,
)
from ortdiffusion.batch.rows import BatchRow, RowError, parse_rows, read_table, unknown_fields
from ortdiffusion.batch.runner import BatchOptions, row_fingerprint

logger = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What a batch run did: rows in the file, rows made now, rows skipped as already complete (resume), the
    failed rows (id, error) and the manifest's path."""

    rows: int
    made: int
    skipped: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    manifest: Path | None = None
    seconds: float = 0.0
    stopped: bool = False  # fail-fast stopped the run


class BatchFailed(RuntimeError):
    """fail-fast: a row failed, the run stopped (the report says which)."""

    def __init__(self, report: BatchReport) -> None:
        row_id, error = report.failed[0]
        super().__init__(f"row {row_id} failed: {error} (stopped: fail-fast)")
        self.report = report


def batch(prompts: str | os.PathLike, out: str | os.PathLike, *, model: str | os.PathLike | None = None,
          scheduler: str | None = None, steps: int = 20, guidance: float = 7.5, width: int | None = None,
          height: int | None = None, negative_prompt: str | None = None, seed: int = 0, threads: int | None = None,
          use_ray: bool = False, ray_address: str | None = None, workers: int | None = None, fail_fast: bool = False,
          provider: str = "cpu", graph_cache: bool = True, progress: bool = True) -> BatchReport:
    """Make one picture per row of ``prompts`` (.jsonl, .csv or .parquet; a ``prompt`` column and optional id,
    negative_prompt, seed, steps, guidance, width, height, scheduler, loras, image, mask, control_image, strength)
    into ``out``: ``<id>.png`` with the parameters chunk, and ``manifest.jsonl`` (id, file, seed, seconds, error,
    worker). The keyword arguments are the defaults for what rows leave out; rows without a seed derive one from
    ``seed`` and their id. Complete rows of an earlier run are skipped. A bad row is reported (manifest, log,
    progress line) and the others go on, unless ``fail_fast`` (then :class:`BatchFailed`). ``use_ray`` runs the
    rows on Ray at ``ray_address`` with ``workers`` actors of ``threads`` threads each (see on_ray.py); otherwise
    here. Without ``model``, the embedded default model."""
    from ortdiffusion.schedulers.a1111_names import scheduler_from_name

    start = time.perf_counter()
    prompts, out = Path(prompts), Path(out).resolve()  # absolute: Ray actors run in other folders
    if scheduler is not None:
        scheduler_from_name(scheduler, {})  # an unknown name fails before any work
    if model is not None and not (Path(model) / "model_index.json").is_file():
        raise FileNotFoundError(f"--model {model}: not an exported model folder (no model_index.json)")
    raw = read_table(prompts)
    extra = unknown_fields(raw)
    if extra:
        logger.warning("%s: ignoring columns no row field reads: %s", prompts, ", ".join(extra))
    rows, errors = parse_rows(raw, prompts.resolve().parent, seed)
    rows, more = _check_names(rows, embedded=model is None)
    errors += more
    options = BatchOptions(model=str(Path(model).resolve()) if model is not None else None, scheduler=scheduler,
                           steps=steps, guidance=guidance, width=width, height=height,
                           negative_prompt=negative_prompt, seed=seed, threads=threads, provider=provider,
                           graph_cache=graph_cache)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out, [r.id for r in rows])
    report = BatchReport(rows=len(rows) + len(errors), made=0, skipped=0, manifest=out / MANIFEST)
    bar = _progress_bar(len(rows), progress)
    order = [(r.index, r.id) for r in rows]
    # bad rows are found again on every run: they go into the manifest from here, not into records (a duplicate id
    # would otherwise overwrite the record of the row that owns it)
    refused = {error.index: error_entry(error) for error in errors}
    for error in errors:
        report.failed.append((error.row_id, error.message))
        _say(bar, f"row {error.row_id}: {error.message}")
    if errors and fail_fast:
        bar.close()
        write_manifest(out, order, refused)
        raise BatchFailed(report)
    pending = [row for row in rows if completed_record(out, row.id, row_fingerprint(row, options)) is None]
    report.skipped = len(rows) - len(pending)
    if report.skipped:
        _say(bar, f"{report.skipped} of {len(rows)} rows are complete from an earlier run: skipped")
        bar.update(report.skipped)
    loras = list(dict.fromkeys(path for row in rows for path, _ in row.loras))

    def done(record: dict[str, Any]) -> bool:
        bar.update(1)
        if record["error"] is None:
            report.made += 1
            return True
        report.failed.append((record["id"], record["error"]))
        _say(bar, f"row {record['id']}: {record['error']}")
        report.stopped = fail_fast
        return not fail_fast

    try:
        if use_ray:
            from ortdiffusion.batch.on_ray import run_on_ray

            run_on_ray(pending, out, options, loras, done, ray_address, workers, fail_fast)
        else:
            from ortdiffusion.batch.local import run_local

            run_local(pending, out, options, loras, done)
    finally:
        bar.close()
        write_manifest(out, order, refused)
        report.seconds = time.perf_counter() - start
    if report.stopped:
        raise BatchFailed(report)
    return report


def _check_names(rows: list[BatchRow], embedded: bool) -> tuple[list[BatchRow], list[RowError]]:
    """Rows whose scheduler name or LoRA files do not exist are bad rows (found before any pipeline loads)."""
    from ortdiffusion.models import shipped_lora_file
    from ortdiffusion.schedulers.a1111_names import scheduler_from_name

    good, bad = [], []
    for row in rows:
        try:
            if row.scheduler is not None:
                scheduler_from_name(row.scheduler, {})
            for path, _ in row.loras:
                if not Path(path).is_file() and not (embedded and shipped_lora_file(path)):
                    raise ValueError(f"loras: no LoRA file at {path!r}")
            good.append(row)
        except ValueError as e:
            bad.append(RowError(row.id, row.index, str(e)))
    return good, bad


def _say(bar: Any, message: str) -> None:
    """A bad row or a resume, as the run goes: above the progress line when there is one, else logged (the
    report lists the failed rows)."""
    if bar.disable:
        logger.info("%s", message)
    else:
        bar.write(message, file=sys.stderr)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="row", desc="batch", disable=not enabled, file=sys.stderr, dynamic_ncols=True)
