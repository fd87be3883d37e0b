"""Where ortdiffusion keeps what it derives from model files: ``$ORTDIFFUSION_CACHE_DIR``, else
``~/.cache/ortdiffusion/optimized``. The optimized-graph cache (session_cache.py) and the assembled shipped
parts (shared_weights.py, in ``assembled/`` below it) share the folder; this module sits below both."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ORTDIFFUSION_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$ORTDIFFUSION_CACHE_DIR``, else ``~/.cache/ortdiffusion/optimized``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "ortdiffusion" / "optimized"
