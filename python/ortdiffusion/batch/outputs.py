"""A batch's output folder: one PNG per row named by its id, a record per row (what happened: file, seed, seconds,
error, which worker) kept in a hidden folder and written atomically by whichever worker ran the row (a retried row
overwrites its own record, so every row has exactly one), and ``manifest.jsonl`` assembled from the records in the
prompt file's order at the end of a run. A row is complete when its record says so and its picture exists: a rerun
skips it (resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ortdiffusion.atomic_file import write_atomically

RECORDS = Path(".ortdiffusion-batch") / "records"
MANIFEST = "manifest.jsonl"


def picture_path(out: Path, row_id: str) -> Path:
    """Where the row's picture goes."""
    return out / f"{row_id}.png"


def record_path(out: Path, row_id: str) -> Path:
    """Where the row's record goes."""
    return out / RECORDS / f"{row_id}.json"


def write_record(out: Path, record: dict[str, Any]) -> None:
    """Write one row's record atomically (replacing an earlier one of the same row)."""
    text = json.dumps(record, sort_keys=True) + "\n"
    write_atomically(record_path(out, record["id"]), lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644)


def read_record(out: Path, row_id: str) -> dict[str, Any] | None:
    """The row's record, or None when there is none (or it cannot be read: the row runs again)."""
    try:
        return json.loads(record_path(out, row_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def completed_record(out: Path, row_id: str, fingerprint: str) -> dict[str, Any] | None:
    """The row's record when the row is complete: a record without an error, made from the same fields and
    defaults (``fingerprint``), and its picture exists; else None."""
    record = read_record(out, row_id)
    if record is None or record.get("error") is not None or record.get("fingerprint") != fingerprint:
        return None
    return record if picture_path(out, row_id).is_file() else None


def remove_stale_temporaries(out: Path, row_ids: list[str]) -> int:
    """Remove the half-written pictures, records and manifest a killed run left behind (the atomic writes'
    temporary files ``.<name>.<random>.tmp`` of this file's rows); returns how many. Each folder is listed once.
    Only one run may write into a folder at a time."""
    names = {MANIFEST, *(f"{row_id}.png" for row_id in row_ids), *(f"{row_id}.json" for row_id in row_ids)}
    folders = [folder for folder in (out, out / RECORDS) if folder.is_dir()]
    # mkstemp's random part has no dots: ".<name>.<random>.tmp" -> "<name>"
    stale = [path for folder in folders for path in folder.glob(".*.tmp") if path.name[1:].rsplit(".", 2)[0] in names]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def error_entry(error: Any) -> dict[str, Any]:
    """The manifest entry of a row refused before it ran (a :class:`~ortdiffusion.batch.rows.RowError`)."""
    return {"id": error.row_id, "index": error.index, "seed": None, "file": None, "error": error.message,
            "worker": None, "node": None, "seconds": 0.0}


def write_manifest(out: Path, rows: list[tuple[int, str]], refused: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """``manifest.jsonl``, one JSON object per line in the prompt file's order, written atomically: the records of
    ``rows`` ((position, id) of the rows that were run) that exist and the ``refused`` rows' entries (by
    position); returns them."""
    entries = dict(refused)
    for index, row_id in rows:
        record = read_record(out, row_id)
        if record is not None:
            entries[index] = record
    records = [entries[index] for index in sorted(entries)]
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    write_atomically(out / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644)
    return records
