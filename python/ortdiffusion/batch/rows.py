"""The rows of a batch: a prompt file (JSON Lines, CSV or Parquet, one row per picture, a ``prompt`` column and
optional per-row fields) read into validated :class:`BatchRow` values, or a :class:`RowError` naming the row
and the field that is wrong. Paths in a row are relative to the prompt file's folder."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ortdiffusion.batch.seeds import derived_seed

FIELDS = ("id", "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler", "loras",
          "image", "mask", "control_image", "strength")
ALIASES = {"guidance_scale": "guidance", "cfg_scale": "guidance", "num_inference_steps": "steps",
           "mask_image": "mask", "negative": "negative_prompt"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a file name on every filesystem
MAX_SEED = 2**64 - 1  # torch.Generator's range


@dataclass(frozen=True)
class BatchRow:
    """One picture to make: the row's own fields (None: the batch's default) and its seed (given, or derived from
    the batch seed and the row id)."""

    id: str
    index: int  # position in the prompt file, from 0
    prompt: str
    seed: int
    negative_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    scheduler: str | None = None
    loras: tuple[tuple[str, float], ...] = ()
    image: str | None = None
    mask: str | None = None
    control_image: str | None = None
    strength: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what travels to Ray actors)."""
        return {**asdict(self), "loras": [list(pair) for pair in self.loras]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRow:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**data, "loras": tuple((str(p), float(w)) for p, w in data.get("loras", ()))})


@dataclass
class RowError(Exception):
    """A row that cannot be run: its id (or its position when it has none) and why."""

    row_id: str
    index: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.message}"


def read_table(path: Path) -> list[dict[str, Any]]:
    """The rows of ``path`` as dicts, by its extension: .jsonl / .ndjson (one JSON object per line), .csv (a header
    row; empty cells are missing values), .parquet (needs pyarrow, which the [ray] extra installs). ValueError
    naming the line for JSON that does not parse."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"no prompt file at {str(path)!r}")
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as e:  # JSONDecodeError, or an integer too long to convert
                raise ValueError(f"{path}, line {number}: not JSON ({getattr(e, 'msg', e)}); one JSON object per "
                                 "line") from None
            rows.append(value if isinstance(value, dict) else {"_not_an_object": value})
        return rows
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as f:  # (Excel's "CSV UTF-8" starts with a BOM)
            return [{k: (v if v != "" else None) for k, v in row.items() if k is not None} for row in csv.DictReader(f)]
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(f"{path}: reading Parquet needs pyarrow (pip install 'ortdiffusion[ray]' or pyarrow)") from None
        return pq.read_table(path).to_pylist()
    raise ValueError(f"{path}: prompt files are .jsonl, .csv or .parquet, got {suffix or 'no extension'!r}")


def parse_rows(raw: list[dict[str, Any]], base_dir: Path, batch_seed: int) -> tuple[list[BatchRow], list[RowError]]:
    """Validate every raw row: the good ones as :class:`BatchRow` (in file order), the bad ones as
    :class:`RowError`. Ids must be unique; a row without one is named by its position (``row-00007``)."""
    rows, errors, seen = [], [], {}
    for index, data in enumerate(raw):
        try:
            row = parse_row(data, index, base_dir, batch_seed)
            key = row.id.casefold()  # ids differing in case only would share a file on macOS and Windows
            if key in seen:
                raise RowError(row.id, index, f"duplicate id (first used by the row at position {seen[key]}; ids "
                               "are compared ignoring case)")
            seen[key] = index
            rows.append(row)
        except RowError as e:
            errors.append(e)
    return rows, errors


def unknown_fields(raw: list[dict[str, Any]]) -> list[str]:
    """Column names no row field reads (reported once, then ignored: prompt files often carry other columns)."""
    names = {k for data in raw for k in data}
    return sorted(names - set(FIELDS) - set(ALIASES) - {"_not_an_object"})


def parse_row(data: dict[str, Any], index: int, base_dir: Path, batch_seed: int) -> BatchRow:
    """One raw row as a :class:`BatchRow`; RowError naming the row and the field otherwise."""
    data = {ALIASES.get(k, k): v for k, v in data.items()}
    row_id = _row_id(data.get("id"), index)

    def fail(message: str) -> RowError:
        return RowError(row_id, index, message)

    if "_not_an_object" in data:
        raise fail(f"not a JSON object: {data['_not_an_object']!r}")
    prompt = data.get("prompt")
    if not _missing(prompt) and not isinstance(prompt, str):
        raise fail(f"prompt {prompt!r} is not text")
    if not isinstance(prompt, str) or not prompt.strip():
        raise fail("missing prompt (every row needs a non-empty 'prompt')")
    seed = _integer(data.get("seed"), "seed", fail, minimum=0, maximum=MAX_SEED)
    return BatchRow(
        id=row_id, index=index, prompt=prompt, seed=derived_seed(batch_seed, row_id) if seed is None else seed,
        negative_prompt=_text(data.get("negative_prompt"), "negative_prompt", fail),
        steps=_integer(data.get("steps"), "steps", fail, minimum=1, maximum=1000),
        guidance=_number(data.get("guidance"), "guidance", fail),
        width=_integer(data.get("width"), "width", fail, minimum=8, maximum=8192),
        height=_integer(data.get("height"), "height", fail, minimum=8, maximum=8192),
        scheduler=_text(data.get("scheduler"), "scheduler", fail),
        loras=_loras(data.get("loras"), base_dir, fail),
        image=_path(data.get("image"), "image", base_dir, fail),
        mask=_path(data.get("mask"), "mask", base_dir, fail),
        control_image=_path(data.get("control_image"), "control_image", base_dir, fail),
        strength=_number(data.get("strength"), "strength", fail, 0.0, 1.0),
    )


def _row_id(value: Any, index: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"row-{index:05d}"
    if isinstance(value, bool):
        raise RowError(f"row-{index:05d}", index, f"id {value!r} is not a name")
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if not ID_PATTERN.match(text):
        raise RowError(f"row-{index:05d}", index, f"id {text!r} cannot name a file (letters, digits, '.', '_', '-'; "
                       "starting with a letter or digit; at most 128 characters)")
    return text


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _integer(value: Any, name: str, fail: Any, minimum: int, maximum: int) -> int | None:
    if _missing(value):
        return None
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.0*)?\s*", value):  # "20.0": pandas' ints with gaps
        number = int(value.strip().split(".")[0])
    if number is None:
        raise fail(f"{name} {value!r} is not an integer")
    if not minimum <= number <= maximum:
        raise fail(f"{name} {number} is outside [{minimum}, {maximum}]")
    return number


def _number(value: Any, name: str, fail: Any, minimum: float = -math.inf, maximum: float = math.inf) -> float | None:
    if _missing(value):
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise fail(f"{name} {value!r} is not a number")
    if not minimum <= number <= maximum:
        raise fail(f"{name} {number} is outside [{minimum}, {maximum}]")
    return number


def _text(value: Any, name: str, fail: Any) -> str | None:
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise fail(f"{name} {value!r} is not text")
    return value


def _path(value: Any, name: str, base_dir: Path, fail: Any) -> str | None:
    text = _text(value, name, fail)
    if text is None or not text.strip():
        return None
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else base_dir / path)


def _loras(value: Any, base_dir: Path, fail: Any) -> tuple[tuple[str, float], ...]:
    """``"a.safetensors:0.8;b.safetensors"`` (CSV), a list of such strings, or a list of {"path", "weight"}."""
    if _missing(value) or value == "":
        return ()
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise fail(f"loras {value!r}: give 'PATH[:WEIGHT];...' or a list of {{'path': ..., 'weight': ...}}")
    out = []
    for item in items:
        if isinstance(item, dict):
            path, weight = item.get("path"), item.get("weight", 1.0)
        elif isinstance(item, str):
            path, sep, weight = item.strip().rpartition(":")
            if not sep or not path:
                path, weight = item.strip(), 1.0
        else:
            raise fail(f"loras: {item!r} is neither 'PATH[:WEIGHT]' nor {{'path': ..., 'weight': ...}}")
        number = _number(weight, f"loras weight of {path!r}", fail)
        if not isinstance(path, str) or not path:
            raise fail(f"loras: {item!r} names no file")
        resolved = Path(path).expanduser()
        if not resolved.is_absolute() and (base_dir / resolved).exists():
            resolved = base_dir / resolved  # beside the prompt file
        elif resolved.exists():
            resolved = resolved.resolve()  # from here (absolute: Ray actors run in other folders)
        # else as given: a shipped LoRA's name, or a missing file the driver reports
        out.append((str(resolved), 1.0 if number is None else number))
    return tuple(out)
