"""Models shipped inside the package. ``default/`` is a tiny Stable Diffusion 1.x export trained here on
synthetic pictures of coloured shapes (scripts/train_default_model.sh), so the whole pipeline runs on a
fresh install with no download and draws what simple prompts ask for. Its variants share its text encoder
and VAE: ``default_inpaint/`` (a 9-channel inpainting UNet) and ``default_canny/`` (the UNet with a Canny
ControlNet fused in); ``default/loras/`` holds two style LoRAs and an LCM-LoRA in diffusers' safetensors layout. Every part
ships with its weights packed to int8 (packed_weights.py), the variants' as low-rank differences to the
base UNet (low_rank_deltas.py), and is read through
:func:`ortdiffusion.model_folder.part_folder`, which assembles it into the cache on first use."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_MODEL_NOTE = (
    "Using the embedded default model: a tiny Stable Diffusion trained on 64x64 pictures of coloured shapes. "
    "It knows 8 colours (red, orange, yellow, green, blue, purple, white, black) and 6 shapes (circle, square, "
    "triangle, star, ring, cross), as in \"a red circle on a blue background\"; --mask and --canny use its "
    "inpainting and Canny ControlNet variants, --lora outline / --lora complement its two style LoRAs, --lora lcm "
    "--scheduler LCM --steps 4 --guidance 1 its 4-step LCM-LoRA. Pass "
    "--model DIR for a real model."
)


# task -> folder under models/
DEFAULT_MODEL_FOLDERS = {"text2img": "default", "inpaint": "default_inpaint", "controlnet": "default_canny"}
SHIPPED_LORAS = ("outline", "complement", "lcm")  # default/loras/NAME.safetensors


def _models_root() -> Path:
    return Path(str(resources.files("ortdiffusion") / "models"))


def default_model_path(task: str = "text2img") -> Path:
    """The folder of the embedded default model for ``task``: "text2img" (also img2img), "inpaint" or
    "controlnet" (Canny edges, text2img and img2img)."""
    if task not in DEFAULT_MODEL_FOLDERS:
        raise ValueError(f"no embedded default model for task {task!r}; tasks: {', '.join(DEFAULT_MODEL_FOLDERS)}")
    path = _models_root() / DEFAULT_MODEL_FOLDERS[task]
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(f"the embedded default {task} model is missing from this installation ({path})")
    return path


def default_lora_path(name: str) -> Path:
    """The shipped LoRA ``name`` ("outline": shapes drawn as outlines; "complement": every colour turned to its
    complement; "lcm": an LCM-LoRA for 4-step pictures with the LCM scheduler and guidance 1), a diffusers-layout
    .safetensors trained for the default model."""
    if name not in SHIPPED_LORAS:
        raise ValueError(f"no shipped LoRA named {name!r}; shipped: {', '.join(SHIPPED_LORAS)}")
    path = _models_root() / "default" / "loras" / f"{name}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"the shipped LoRA {name!r} is missing from this installation ({path})")
    return path


def embedded_model_folder(name: str | Path) -> Path | None:
    """The embedded model's folder when ``name`` is one of its names ("default", "default_inpaint",
    "default_canny") and no folder of that name exists where the caller stands; None otherwise. Lets
    ``from_pretrained("default")`` and the CLI's ``--model default`` load it as diffusers loads a hub name."""
    if Path(name).exists() or str(name) not in DEFAULT_MODEL_FOLDERS.values():
        return None
    task = next(task for task, folder in DEFAULT_MODEL_FOLDERS.items() if folder == str(name))
    return default_model_path(task)


def shipped_lora_file(name: str | Path) -> Path | None:
    """The shipped LoRA's file when ``name`` is one of their names ("outline", "complement") and no file of
    that name exists where the caller stands; None otherwise."""
    if Path(name).exists() or str(name) not in SHIPPED_LORAS:
        return None
    return default_lora_path(str(name))
