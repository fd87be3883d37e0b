"""Makes ortdiffusion's schedulers subclasses of diffusers' ``SchedulerMixin`` and ``ConfigMixin`` once
diffusers is loaded, so that diffusers' pipelines accept them (``from_pretrained(path, scheduler=ours)``,
``pipe.scheduler = ours``) and save them (``pipe.save_pretrained`` writes their ``scheduler/`` folder).

ortdiffusion never imports diffusers: when diffusers is already loaded the bases are adopted at once; else
an import hook waits for ``diffusers.schedulers.scheduling_utils`` to finish loading and adopts them then.
The adopted bases come after ortdiffusion's own in the method order, so every method and attribute the
schedulers define (config handling, save/load, stepping) stays ortdiffusion's."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

_SCHEDULING_UTILS = "diffusers.schedulers.scheduling_utils"
_CONFIGURATION_UTILS = "diffusers.configuration_utils"


class ExternalBases:
    """The placeholder base of ortdiffusion's scheduler mixin; replaced by diffusers' classes (see module)."""


def adopt_diffusers_bases(target: type) -> bool:
    """Give ``target`` (whose bases are ``(ExternalBases,)``) diffusers' SchedulerMixin and ConfigMixin as
    bases when both modules are loaded; True when done (now or before)."""
    scheduling = sys.modules.get(_SCHEDULING_UTILS)
    configuration = sys.modules.get(_CONFIGURATION_UTILS)
    if scheduling is None or configuration is None:
        return False
    mixins = (scheduling.SchedulerMixin, configuration.ConfigMixin)
    if target.__bases__ != mixins:
        target.__bases__ = mixins
    return True


class _AdoptAfterLoad(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of diffusers' scheduling_utils so that ``target`` adopts the
    bases right after that module has run."""

    def __init__(self, target: type) -> None:
        self.target = target

    def _then_adopt(self, run: Any) -> Any:
        """``run`` (a loader's exec_module), then the adoption, then this hook removes itself."""

        def exec_module(module: Any) -> None:
            run(module)
            if adopt_diffusers_bases(self.target) and self in sys.meta_path:
                sys.meta_path.remove(self)

        return exec_module

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _SCHEDULING_UTILS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader.exec_module = self._then_adopt(spec.loader.exec_module)  # type: ignore[method-assign]
                return spec
        return None


def install(target: type) -> None:
    """Adopt diffusers' bases for ``target`` now if diffusers is loaded, else when it gets loaded."""
    if not adopt_diffusers_bases(target) and not any(isinstance(f, _AdoptAfterLoad) for f in sys.meta_path):
        sys.meta_path.insert(0, _AdoptAfterLoad(target))
