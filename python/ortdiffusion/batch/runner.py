"""Running rows: :class:`RowRunner` holds the loaded pipelines of one worker (the local loop, or one Ray actor)
and turns a :class:`BatchRow` into its picture and record. The pipeline follows the row's inputs (a mask:
inpainting; a control image: ControlNet; an image: image-to-image; else text-to-image); without a model folder
each task runs on the embedded default model's variant for it. Every LoRA of the batch is loaded when a pipeline
is, with live switching, so a row's picture does not depend on which rows its worker ran before."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ortdiffusion.batch.outputs import picture_path, write_record
from ortdiffusion.batch.rows import BatchRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    """The batch's defaults for what rows leave out, and how the workers load their pipelines."""

    model: str | None = None  # an exported folder; None: the embedded default model
    scheduler: str | None = None  # a diffusers class or AUTOMATIC1111 name; None: the model's own
    steps: int = 20
    guidance: float = 7.5
    width: int | None = None
    height: int | None = None
    negative_prompt: str | None = None
    seed: int = 0  # rows without a seed derive theirs from this and their id
    threads: int | None = None  # ONNX Runtime intra-op threads per worker (None: its default)
    provider: str = "cpu"
    graph_cache: bool = True


TASK_CLASSES = {"txt2img": "StableDiffusionPipeline", "img2img": "StableDiffusionImg2ImgPipeline",
                "inpaint": "StableDiffusionInpaintPipeline", "controlnet": "StableDiffusionControlNetPipeline",
                "controlnet_img2img": "StableDiffusionControlNetImg2ImgPipeline"}
EMBEDDED_TASK = {"txt2img": "text2img", "img2img": "text2img", "inpaint": "inpaint", "controlnet": "controlnet",
                 "controlnet_img2img": "controlnet"}


def row_fingerprint(row: BatchRow, options: BatchOptions) -> str:
    """What the row's picture depends on (its fields but its position, and the batch's defaults and model but not
    how many threads run it), hashed: a rerun keeps a picture only when this is unchanged."""
    fields = {k: v for k, v in row.to_dict().items() if k != "index"}
    defaults = {k: v for k, v in options.__dict__.items() if k not in ("threads", "provider", "graph_cache")}
    text = json.dumps({"row": fields, "defaults": defaults}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def row_task(row: BatchRow) -> str:
    """Which pipeline the row's inputs call for; ValueError for a mask without an image."""
    if row.mask:
        if not row.image:
            raise ValueError("mask needs image (the picture to inpaint)")
        if row.control_image:
            raise ValueError("mask cannot be combined with control_image")
        return "inpaint"
    if row.control_image:
        return "controlnet_img2img" if row.image else "controlnet"
    return "img2img" if row.image else "txt2img"


class RowRunner:
    """One worker's pipelines (loaded on first use per task) and the rows it runs."""

    def __init__(self, out: Path, options: BatchOptions, loras: list[str], node: str | None = None) -> None:
        self.out = Path(out)
        self.options = options
        self.loras = list(dict.fromkeys(loras))  # every LoRA file of the batch, adapter "lora<k>"
        self.node = node
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._pipelines: dict[str, tuple[Any, Any, str]] = {}  # task -> (pipe, the folder's scheduler, model)
        self._failed: dict[str, Exception] = {}  # task -> why its pipeline could not load

    def run(self, row: BatchRow) -> dict[str, Any]:
        """Make the row's picture and write it with its record; returns the record (``error`` set, no picture,
        when the row fails: bad input, an unreadable picture, a model that cannot serve it)."""
        start = time.perf_counter()
        record = {"id": row.id, "index": row.index, "seed": row.seed, "file": None, "error": None,
                  "worker": self.worker, "node": self.node, "fingerprint": row_fingerprint(row, self.options)}
        try:
            record["file"] = self._make(row).name
        except Exception as e:
            record["error"] = f"{type(e).__name__}: {e}"
            logger.debug("row %s failed", row.id, exc_info=True)
        record["seconds"] = round(time.perf_counter() - start, 4)
        write_record(self.out, record)
        return record

    def _make(self, row: BatchRow) -> Path:
        from ortdiffusion import image as images
        from ortdiffusion.png import save_png
        from ortdiffusion.schedulers.a1111_names import a1111_sampler_name, scheduler_from_name

        task = row_task(row)
        pipe, folder_scheduler, model = self._pipeline(task)
        o = self.options
        name = row.scheduler or o.scheduler  # built from the folder's config, never from the previous row's sampler
        pipe.scheduler = scheduler_from_name(name, folder_scheduler.config) if name else folder_scheduler
        adapters = {path: weight for path, weight in row.loras}
        names = [f"lora{self.loras.index(path)}" for path in adapters]
        if self.loras:
            pipe.set_adapters(names, list(adapters.values()))
        steps, guidance = row.steps or o.steps, o.guidance if row.guidance is None else row.guidance
        kwargs: dict[str, Any] = {"height": row.height or o.height, "width": row.width or o.width}
        if row.image:
            kwargs["image"] = images.load_image(row.image, "image")
            kwargs["strength"] = row.strength if row.strength is not None else (1.0 if task == "inpaint" else 0.8)
        if row.mask:
            kwargs["mask_image"] = images.load_image(row.mask, "mask")
        if row.control_image:
            kwargs["control_image"] = images.load_image(row.control_image, "control_image")
        negative = row.negative_prompt if row.negative_prompt is not None else o.negative_prompt
        picture = pipe(row.prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance,
                       generator=row.seed, **kwargs).images[0]
        params = {
            "prompt": row.prompt, "negative_prompt": negative, "steps": steps,
            "scheduler": a1111_sampler_name(pipe.scheduler), "scheduler_class": type(pipe.scheduler).__name__,
            "guidance_scale": guidance, "seed": row.seed, "size": f"{picture.width}x{picture.height}",
            "model": model, "pipeline": type(pipe).__name__, "strength": kwargs.get("strength"),
            "loras": [f"{Path(p).name}:{w}" for p, w in adapters.items()] or None, "batch_row": row.id,
        }
        return save_png(picture, picture_path(self.out, row.id), params)

    def _pipeline(self, task: str) -> tuple[Any, Any, str]:
        if task in self._failed:  # a model or LoRA that cannot load fails its rows once, not a reload per row
            raise self._failed[task]
        try:
            return self._load(task)
        except Exception as e:
            self._failed[task] = e
            raise

    def _load(self, task: str) -> tuple[Any, Any, str]:
        if task not in self._pipelines:
            import ortdiffusion as od
            from ortdiffusion.models import default_model_path, shipped_lora_file

            embedded = self.options.model is None
            model = str(default_model_path(EMBEDDED_TASK[task])) if embedded else self.options.model
            pipe = getattr(od, TASK_CLASSES[task]).from_pretrained(
                model, provider=self.options.provider, sess_options=self._session_options(),
                graph_cache=self.options.graph_cache)
            pipe.set_progress_bar_config(disable=True)
            if self.loras:
                pipe.enable_live_lora()
                for k, path in enumerate(self.loras):
                    shipped = shipped_lora_file(path) if embedded else None
                    pipe.load_lora_weights(shipped or path, adapter_name=f"lora{k}")
            self._pipelines[task] = (pipe, pipe.scheduler, model)
            logger.info("%s loaded %s for %s", self.worker, model, task)
        return self._pipelines[task]

    def _session_options(self) -> Any:
        if self.options.threads is None:
            return None
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.options.threads
        options.inter_op_num_threads = 1
        return options
