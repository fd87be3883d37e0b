"""argparse types shared by the commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def model_folder(value: str) -> Path:
    """An exported folder, or one of the embedded model's names ("default", "default_inpaint",
    "default_canny") when no folder of that name is here."""
    from ortdiffusion.models import embedded_model_folder

    if not value.strip():
        raise argparse.ArgumentTypeError("is empty; give an exported folder or 'default'")
    return embedded_model_folder(value) or Path(value)
