"""The pipelines the server keeps loaded: one per (model folder, task), created on first use with live LoRA
switching (adapters change in place between requests) and the served embeddings, and dropped least recently
used beyond a bound. Used from the job worker only, so never by two generations at once."""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ortdiffusion.server.catalog import Catalog

logger = logging.getLogger(__name__)

TASKS = ("txt2img", "img2img", "inpaint", "controlnet", "controlnet_img2img")


def _pipeline_class(task: str) -> Any:
    import ortdiffusion as od

    return {
        "txt2img": od.StableDiffusionPipeline, "img2img": od.StableDiffusionImg2ImgPipeline,
        "inpaint": od.StableDiffusionInpaintPipeline, "controlnet": od.StableDiffusionControlNetPipeline,
        "controlnet_img2img": od.StableDiffusionControlNetImg2ImgPipeline,
    }[task]


class PipelinePool:
    """At most ``size`` loaded pipelines; :meth:`get` loads or reuses one."""

    def __init__(self, catalog: Catalog, size: int, graph_cache: bool = True) -> None:
        self.catalog = catalog
        self.size = size
        self.graph_cache = graph_cache
        self._loaded: OrderedDict[tuple[Path, str], Any] = OrderedDict()
        self._scheduler_configs: dict[int, dict[str, Any]] = {}  # id(pipeline) -> its folder's scheduler config
        self.skipped_embeddings: dict[str, str] = {}  # name -> why it does not fit the last model loaded

    def get(self, folder: Path, task: str) -> Any:
        """The pipeline for ``task`` on ``folder`` (loaded now if needed; the least recently used beyond
        ``size`` is dropped)."""
        key = (folder, task)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        pipe = _pipeline_class(task).from_pretrained(folder, graph_cache=self.graph_cache)
        pipe.set_progress_bar_config(disable=True)
        pipe.enable_live_lora()
        self._load_embeddings(pipe, folder)
        self._loaded[key] = pipe
        self._scheduler_configs[id(pipe)] = dict(pipe.scheduler.config)
        while len(self._loaded) > self.size:
            dropped, old = self._loaded.popitem(last=False)
            self._scheduler_configs.pop(id(old), None)
            logger.info("unloaded %s (%s) to stay within %d pipelines", *dropped, self.size)
        return pipe

    def _load_embeddings(self, pipe: Any, folder: Path) -> None:
        """Every served embedding that fits the pipeline, in one load (one session rebuild); the others are
        recorded in ``skipped_embeddings`` with the reason."""
        from ortdiffusion.prompts.textual_inversion_file import read_textual_inversion

        fitting = []
        for name, path in self.catalog.embeddings().items():
            try:
                embedding = read_textual_inversion(path, token=name)
                pipe._check_new_embeddings([*fitting, embedding])
                fitting.append(embedding)
                self.skipped_embeddings.pop(name, None)
            except (ValueError, OSError) as e:  # another width, a word of the vocabulary, an unreadable file ...
                self.skipped_embeddings[name] = str(e)
                logger.warning("embedding %s not loaded for %s: %s", name, folder, e)
        if fitting:
            pipe.load_textual_inversion([e.vectors for e in fitting], token=[e.token for e in fitting])

    def scheduler_config(self, pipe: Any) -> dict[str, Any]:
        """The scheduler config of ``pipe``'s folder (a request's sampler is built from it, never from the
        previous request's)."""
        return self._scheduler_configs[id(pipe)]

    def apply_loras(self, pipe: Any, loras: list[tuple[str, float]]) -> None:
        """Make ``loras`` (name, weight) the pipeline's active adapters (loading those it has not seen)."""
        loaded = set(pipe.get_list_adapters().get("unet", [])) | set(pipe.get_list_adapters().get("text_encoder", []))
        for name, _ in loras:
            if name not in loaded:
                pipe.load_lora_weights(self.catalog.lora(name), adapter_name=name)
        pipe.set_adapters([n for n, _ in loras], [w for _, w in loras])

    def clear(self) -> None:
        """Drop every loaded pipeline (a model switch, a LoRA refresh)."""
        self._loaded.clear()
