"""A cache of ONNX Runtime's optimized graphs, so the second session on a model skips graph optimization.

The first session on a model is created with ``SessionOptions.optimized_model_filepath`` set: ONNX Runtime
writes the graph it will run (constant-folded Transposes, fused nodes, NCHWc convolutions; weights in an
external-data file) into a staging folder, which is then renamed into the cache. Later sessions load that
file with graph optimization disabled. On the SD 1.5 UNet this takes session creation from about 12 s to
about 1.3 s, with bit-identical outputs (benchmarks/README.md).

The saved graph is specific to the machine and library that made it (ONNX Runtime warns that NCHWc
layouts depend on the CPU), so the cache key holds: the ONNX Runtime version, the provider and its
options, the optimization level, the CPU architecture and vector ISA, the content hash of ``model.onnx``
and the size and modification time of every external-data file beside it. Any change gives a new entry.
Only CPU sessions on unmodified model files are cached (not LoRA-merged weights or rewritten graphs).
``ORTDIFFUSION_CACHE_DIR`` moves the cache (default ``~/.cache/ortdiffusion/optimized``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ortdiffusion.cache_dir import CACHE_ENV, default_cache_dir  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)

CACHED_MODEL = "model.onnx"
CACHED_DATA = "model.onnx_data"


def cache_key(model_path: Path, provider: str, provider_options: dict[str, Any] | None, level: Any) -> str:
    """The hex key of one (model files, library, machine, settings) combination; see the module docs."""
    from ortdiffusion import _native

    digest = hashlib.sha256()
    digest.update(model_path.read_bytes())
    files = sorted(p for p in model_path.parent.iterdir() if p.is_file() and p.name != model_path.name)
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if "onnx" in p.suffix or p.suffix == ".data"]
    facts = {
        "onnxruntime": ort.__version__, "provider": provider, "provider_options": sorted((provider_options or {}).items()),
        "level": str(level), "machine": platform.machine(), "isa": _native.torch_cpu_capability(), "files": stats,
    }
    digest.update(json.dumps(facts, sort_keys=True, default=str).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """Where one model's optimized graph lives (or will)."""

    folder: Path

    @property
    def model(self) -> Path:
        """The cached optimized graph."""
        return self.folder / CACHED_MODEL

    def exists(self) -> bool:
        """Whether the entry is complete (the folder appears only by an atomic rename)."""
        return self.model.is_file()


def entry_for(cache_dir: Path, model_path: Path, provider: str, provider_options: dict[str, Any] | None,
              level: Any) -> CacheEntry:
    """The cache entry of ``model_path`` under ``cache_dir`` (named after the model's folder and the key)."""
    key = cache_key(model_path, provider, provider_options, level)
    return CacheEntry(cache_dir / f"{model_path.parent.name}-{key[:24]}")


def open_staging(entry: CacheEntry) -> Path:
    """A new private folder beside ``entry`` for ONNX Runtime to write into; raises OSError if the cache
    folder cannot be written."""
    staging = entry.folder.with_name(f".{entry.folder.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    staging.mkdir(parents=True)
    return staging


def save_into(options: ort.SessionOptions, staging: Path) -> None:
    """Make ``options`` write the optimized graph into ``staging`` (weights in one external-data file, so
    graphs over 2 GB can be saved)."""
    options.optimized_model_filepath = str(staging / CACHED_MODEL)
    # ONNX Runtime warns on every save that NCHWc graphs are machine-specific; the cache key covers that,
    # so the warning would only alarm users on each first load (errors still show).
    options.log_severity_level = max(options.log_severity_level, 3)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", CACHED_DATA)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")


def commit(entry: CacheEntry, staging: Path) -> None:
    """Rename ``staging`` into place as ``entry`` (atomic). If another process stored the entry first, or
    the rename fails, the staging folder is discarded; the cache is an optimization, never an error."""
    try:
        os.replace(staging, entry.folder)
        size = sum(p.stat().st_size for p in entry.folder.iterdir())
        logger.info("cached the optimized graph (%.1f MB) in %s", size / 1e6, entry.folder)
    except OSError as e:
        if not entry.exists():
            logger.warning("could not store the optimized graph in %s (%s)", entry.folder, e)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def discard(folder: Path) -> None:
    """Remove a damaged entry or an unused staging folder."""
    shutil.rmtree(folder, ignore_errors=True)
