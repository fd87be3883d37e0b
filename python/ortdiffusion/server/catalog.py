"""What the server can serve, by name: models (exported folders under ``models_dir`` and the embedded model's
names), LoRAs and textual-inversion embeddings (.safetensors under their folders, named by their path without
the extension). A name resolves only inside its folder: no absolute paths, no ``..``, no symlink leading out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ortdiffusion.models import DEFAULT_MODEL_FOLDERS, SHIPPED_LORAS, default_lora_path, default_model_path
from ortdiffusion.server.errors import NotFound
from ortdiffusion.server.settings import ServerSettings

EMBEDDED = "default"
EMBEDDED_CONTROLNET = DEFAULT_MODEL_FOLDERS["controlnet"]
INPAINT_SUFFIXES = ("_inpaint", "-inpainting", "_inpainting")  # sibling folders holding a model's inpainting UNet


def resolve_inside(root: Path, name: str, suffix: str, field: str) -> Path:
    """``root/name + suffix``, refusing names that are absolute, contain ``..`` or a backslash, or resolve
    (symlinks followed) outside ``root``."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or name.startswith("~"):
        raise NotFound(field, f"{field}: {name!r} is not a name inside the served folder")
    path = root / (name + suffix)
    try:
        path.resolve(strict=True).relative_to(root.resolve(strict=True))
    except (OSError, ValueError):
        raise NotFound(field, f"{field}: no {name!r} in the served folder") from None
    return path


def short_hash(*files: Path) -> str:
    """AUTOMATIC1111 shows 10 hex digits of a SHA-256; here of the small files that identify a folder."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes() if file.is_file() else b"")
    return digest.hexdigest()[:10]


@dataclass(frozen=True)
class ModelEntry:
    """A served model: its name, folder and whether its UNet has ControlNets fused in."""

    name: str
    folder: Path

    @property
    def hash(self) -> str:
        """10 hex digits identifying the folder's configs."""
        return short_hash(self.folder / "model_index.json", self.folder / "unet" / "config.json")

    @property
    def title(self) -> str:
        """AUTOMATIC1111's checkpoint title, ``name [hash]``."""
        return f"{self.name} [{self.hash}]"

    @property
    def is_controlnet(self) -> bool:
        """Whether the folder's UNet has ControlNets fused in (``unet/controlnet_0/``)."""
        return (self.folder / "unet" / "controlnet_0").is_dir()


class Catalog:
    """The names the server serves, rescanned on demand (``refresh``)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def models(self) -> list[ModelEntry]:
        """Every servable model: the embedded ones first, then ``models_dir``'s exported folders by name."""
        entries = [ModelEntry(name, default_model_path(task)) for task, name in DEFAULT_MODEL_FOLDERS.items()]
        root = self.settings.models_dir
        if root is not None and root.is_dir():
            for folder in sorted(root.iterdir()):
                if (folder / "model_index.json").is_file() and folder.resolve().is_relative_to(root.resolve()):
                    entries.append(ModelEntry(folder.name, folder))
        return entries

    def model(self, name: str, field: str = "sd_model_checkpoint") -> ModelEntry:
        """The model called ``name``, or ``name [hash]`` (a title), or a title's name with another hash."""
        bare = name.split(" [", 1)[0].strip()
        for entry in self.models():
            if bare == entry.name:
                return entry
        raise NotFound(field, f"{field}: unknown model {name!r}; served: {', '.join(e.name for e in self.models())}")

    def inpainting_model(self, entry: ModelEntry) -> ModelEntry:
        """The folder that inpaints for ``entry``: the embedded inpainting variant for the embedded model, a
        sibling folder named with an inpainting suffix if there is one, else the model itself (diffusers
        inpaints with plain UNets too)."""
        if entry.name == EMBEDDED:
            return ModelEntry(DEFAULT_MODEL_FOLDERS["inpaint"], default_model_path("inpaint"))
        for suffix in INPAINT_SUFFIXES:
            sibling = entry.folder.parent / (entry.name + suffix)
            if (sibling / "model_index.json").is_file() and sibling.resolve().is_relative_to(entry.folder.parent.resolve()):
                return ModelEntry(sibling.name, sibling)
        return entry

    def controlnets(self) -> list[ModelEntry]:
        """The models with ControlNets fused in (the ControlNet extension's model list)."""
        return [e for e in self.models() if e.is_controlnet]

    def loras(self) -> dict[str, Path]:
        """LoRA name -> file: the embedded model's two, then ``lora_dir``'s .safetensors (subfolders included)."""
        found = {name: default_lora_path(name) for name in SHIPPED_LORAS}
        found.update(self._files(self.settings.lora_dir))
        return found

    def lora(self, name: str, field: str = "prompt") -> Path:
        """The file of LoRA ``name``: resolved inside the LoRA folder, else one of the embedded model's."""
        root = self.settings.lora_dir
        if root is not None:
            try:
                return resolve_inside(root, name, ".safetensors", field)
            except NotFound:
                if name not in SHIPPED_LORAS:
                    raise
        if name in SHIPPED_LORAS:
            return default_lora_path(name)
        raise NotFound(field, f"{field}: unknown LoRA {name!r}; served: {', '.join(self.loras())}")

    def embeddings(self) -> dict[str, Path]:
        """Embedding name -> file, from ``embeddings_dir`` (subfolders included): the name is the file's stem,
        the word that calls it (AUTOMATIC1111's rule); of several files with one stem, the first by path."""
        found: dict[str, Path] = {}
        for path in self._files(self.settings.embeddings_dir).values():
            found.setdefault(path.stem, path)
        return found

    @staticmethod
    def _files(root: Path | None) -> dict[str, Path]:
        if root is None or not root.is_dir():
            return {}
        resolved = root.resolve()
        return {path.relative_to(root).with_suffix("").as_posix(): path for path in sorted(root.rglob("*.safetensors"))
                if path.is_file() and path.resolve().is_relative_to(resolved)}
