"""Models shipped inside the package. ``default/`` is a tiny Stable Diffusion 1.x export with random
weights (built by scripts/build_default_model.py), so the whole pipeline runs on a fresh install with no
download; its pictures are not meaningful."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_MODEL_NOTE = (
    "Using the embedded default model: a tiny Stable Diffusion with RANDOM weights. The whole pipeline runs, "
    "but the picture is not meaningful; pass --model DIR with an exported model for real images."
)


def default_model_path() -> Path:
    """The folder of the embedded default model (an exported pipeline with random weights)."""
    path = Path(str(resources.files("ortdiffusion") / "models" / "default"))
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(f"the embedded default model is missing from this installation ({path})")
    return path
