"""Models shipped inside the package. ``default/`` is a tiny Stable Diffusion 1.x export trained here on
synthetic pictures of coloured shapes (scripts/train_default_model.sh), so the whole pipeline runs on a
fresh install with no download and draws what simple prompts ask for."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_MODEL_NOTE = (
    "Using the embedded default model: a tiny Stable Diffusion trained on 64x64 pictures of coloured shapes. "
    "It knows 8 colours (red, orange, yellow, green, blue, purple, white, black) and 6 shapes (circle, square, "
    "triangle, star, ring, cross), as in \"a red circle on a blue background\"; pass --model DIR for a real model."
)


def default_model_path() -> Path:
    """The folder of the embedded default model (the tiny shapes pipeline, exported)."""
    path = Path(str(resources.files("ortdiffusion") / "models" / "default"))
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(f"the embedded default model is missing from this installation ({path})")
    return path
