"""Pickled checkpoints (``.ckpt``, ``.pt``, ``.pth``, ``.bin``, ``.pkl``) are refused: unpickling a file runs
whatever code it holds."""

from __future__ import annotations

from pathlib import Path

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl")


def refuse_pickle(path: Path, what: str) -> None:
    """ValueError naming ``path`` when it is a pickle, saying why and how to convert it; nothing otherwise."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ValueError(
            f"{path} is a pickle ({path.suffix}): ortdiffusion does not load pickles, because unpickling a file can "
            f"run any code it holds. Convert the {what} to .safetensors where you trust the file (for example with "
            "torch.load(..., weights_only=True) and safetensors.torch.save_file) and load that"
        )
