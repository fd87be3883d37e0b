"""Which scheduler a pipeline runs: the class its folder's ``scheduler_config.json`` names (as diffusers'
``from_pretrained`` does), or the one the caller sets (``pipe.scheduler = ...`` or
``from_pretrained(path, scheduler=...)``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ortdiffusion.schedulers import SCHEDULER_CLASSES, DDIMScheduler
from ortdiffusion.schedulers.config_mixin import SchedulerConfigMixin

logger = logging.getLogger(__name__)


def folder_scheduler(config: dict[str, Any], path: Path) -> SchedulerConfigMixin:
    """The scheduler ``config`` (read from ``path``) names in ``_class_name``, built from it. A class
    ortdiffusion does not implement yet runs as DDIM on the same noise schedule, with a warning that
    names it and the implemented classes (no ``_class_name``: DDIM, the exporter's default)."""
    name = config.get("_class_name", "DDIMScheduler")
    cls = SCHEDULER_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        logger.warning(
            "%s names %s, which ortdiffusion does not implement; running DDIMScheduler on the same noise schedule "
            "(implemented: %s)", path, name, ", ".join(SCHEDULER_CLASSES),
        )
        cls = DDIMScheduler
    return cls.from_config(config)


def as_pipeline_scheduler(scheduler: Any) -> SchedulerConfigMixin:
    """``scheduler`` as a pipeline runs it: an ortdiffusion scheduler as it is; a diffusers scheduler of a
    class ortdiffusion implements becomes the native one with the same config (the pipeline never runs
    torch); anything else is a TypeError naming the implemented classes."""
    if isinstance(scheduler, SchedulerConfigMixin):
        return scheduler
    name = type(scheduler).__name__
    config = getattr(scheduler, "config", None)
    if name in SCHEDULER_CLASSES and config is not None:
        logger.info("using ortdiffusion's native %s with the config of the given %s.%s", name,
                    type(scheduler).__module__, name)
        return SCHEDULER_CLASSES[name].from_config(dict(config))
    raise TypeError(
        f"the pipeline's scheduler must be an ortdiffusion scheduler ({', '.join(SCHEDULER_CLASSES)}), "
        f"or a diffusers scheduler of one of those classes; got {type(scheduler).__module__}.{name}"
    )
