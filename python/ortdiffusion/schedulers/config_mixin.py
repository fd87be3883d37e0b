"""diffusers' ``ConfigMixin`` / ``SchedulerMixin`` surface for the native schedulers, without importing
diffusers: ``config`` (a read-only dict with ``_class_name`` and ``_use_default_values``),
``register_to_config``, ``from_config`` (diffusers' ``extract_init_dict`` rules), ``save_config`` /
``save_pretrained``, ``load_config`` / ``from_pretrained`` (local folders and files only) and
``compatibles``. Each scheduler class names its native class and config keys; the values themselves are
parsed and checked by the C++ core."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ortdiffusion.atomic_file import write_json_atomic
from ortdiffusion.errors import ConfigError
from ortdiffusion.schedulers.config import (
    CONFIG_NAME,
    FrozenConfig,
    config_to_json,
    find_config_file,
    to_jsonable,
)
from ortdiffusion.schedulers.diffusers_interop import ExternalBases, install

logger = logging.getLogger(__name__)

# diffusers' KarrasDiffusionSchedulers: the classes that read each other's configs (every scheduler's
# _compatibles in diffusers); ours lists those of them that ortdiffusion implements.
KARRAS_DIFFUSION_SCHEDULERS = (
    "DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
    "HeunDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
    "DEISMultistepScheduler", "UniPCMultistepScheduler", "DPMSolverSDEScheduler", "EDMEulerScheduler",
)
# from_pretrained keywords of diffusers' that reach the model hub; accepted and ignored (local files only)
_HUB_KWARGS = frozenset({
    "cache_dir", "force_download", "proxies", "local_files_only", "token", "use_auth_token", "revision",
    "user_agent", "resume_download", "output_loading_info", "return_commit_hash", "dduf_entries",
})


class SchedulerConfigMixin(ExternalBases):
    """Config handling shared by every native scheduler (diffusers' ``ConfigMixin`` + ``SchedulerMixin``).

    A subclass sets ``_config_keys`` (its ``__init__`` keys, from the native core), ``_native_class``
    (built from the config JSON) and ``_compatibles``; its ``__init__(**config)`` calls
    :meth:`_init_config`."""

    config_name: ClassVar[str] = CONFIG_NAME
    has_compatibles: ClassVar[bool] = True
    ignore_for_config: ClassVar[list] = []
    _compatibles: ClassVar[list] = list(KARRAS_DIFFUSION_SCHEDULERS)
    _deprecated_kwargs: ClassVar[list] = []
    _config_keys: ClassVar[tuple] = ()
    # keys whose native JSON null stands for a non-finite value (strict JSON has no -Infinity)
    _null_means: ClassVar[dict] = {}
    _native_class: ClassVar[Any] = None
    _internal_dict: FrozenConfig
    # every scheduler class defined on this mixin, by name (filled as the classes are defined)
    _implemented: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SchedulerConfigMixin._implemented[cls.__name__] = cls

    # ---- construction ------------------------------------------------------------------------
    def _init_config(self, config: Mapping[str, Any], source: str) -> None:
        """Validate ``config`` (the ``__init__`` keywords), build the native scheduler and register the full
        config as diffusers' ``register_to_config`` decorator does: every key with its default filled in,
        private (``_``) keywords kept, and ``_use_default_values`` listing the keys that were not given."""
        name = type(self).__name__
        unexpected = sorted(k for k in config if k not in self._config_keys and not str(k).startswith("_"))
        if unexpected:
            raise TypeError(
                f"{name} got unexpected config keys {unexpected}; known keys: {', '.join(self._config_keys)} "
                "(use from_config to ignore keys of other schedulers)"
            )
        given = {k: v for k, v in config.items() if k in self._config_keys}
        private = {k: v for k, v in config.items() if str(k).startswith("_")}
        self._native = self._native_class(config_to_json(given), source)
        full = json.loads(self._native.config_json())
        for key, value in self._null_means.items():  # strict JSON's null for a non-finite default
            if full.get(key, 0) is None:
                full[key] = value
        if "trained_betas" in given:  # keep the caller's value (list or array), as diffusers stores it
            full["trained_betas"] = given["trained_betas"]
        ordered = {k: full[k] for k in self._config_keys}
        defaults = [k for k in self._config_keys if k not in given]
        self._internal_dict = FrozenConfig(
            {**private, **ordered, **({"_use_default_values": defaults} if defaults else {}), "_class_name": name}
        )

    def register_to_config(self, **kwargs: Any) -> None:
        """Add or replace config entries (diffusers' ``register_to_config``). Entries that are not this
        scheduler's keys (another scheduler's, ``_class_name``...) are only recorded, so they travel with
        the config to a compatible scheduler; the scheduler's own keys must be set by building a new one
        (``from_config(config, key=value)``): changing them here would not change the native state."""
        kwargs.pop("kwargs", None)
        own = sorted(k for k in kwargs if k in self._config_keys and kwargs[k] != self._internal_dict.get(k))
        if own:
            raise ValueError(
                f"register_to_config cannot change {type(self).__name__}'s own keys {own} after construction; "
                f"use {type(self).__name__}.from_config(scheduler.config, {own[0]}=...)"
            )
        self._internal_dict = FrozenConfig({**self._internal_dict, **kwargs})

    def _record_native_change(self, **kwargs: Any) -> None:
        """Record config values the native scheduler changed itself (as diffusers' schedulers call
        register_to_config from set_timesteps)."""
        self._internal_dict = FrozenConfig({**self._internal_dict, **kwargs})

    @classmethod
    def extract_init_dict(cls, config_dict: Mapping[str, Any], **kwargs: Any) -> tuple[dict, dict, dict]:
        """diffusers' ``ConfigMixin.extract_init_dict``: the ``__init__`` keywords for ``config_dict``
        (``kwargs`` win; keys listed in ``_use_default_values`` are dropped, so this class's own default
        applies), the unused entries, and the "hidden" entries kept for compatible classes."""
        used_defaults = config_dict.get("_use_default_values", [])
        config_dict = {k: v for k, v in config_dict.items() if k not in used_defaults and k != "_use_default_values"}
        original = dict(config_dict)
        orig_class = config_dict.pop("_class_name", cls.__name__)
        if not isinstance(orig_class, (str, list, tuple)):
            # diffusers raises ValueError here; kept so callers catching it keep working
            raise ValueError(  # noqa: TRY004
                f"`_class_name` must be a string or a list of strings, got {orig_class!r}"
            )
        config_dict = {k: v for k, v in config_dict.items() if not str(k).startswith("_")}
        init_dict = {}
        for key in cls._config_keys:
            if key in kwargs:
                init_dict[key] = kwargs.pop(key)
                config_dict.pop(key, None)
            elif key in config_dict:
                init_dict[key] = config_dict.pop(key)
        if config_dict:
            logger.debug("%s.from_config ignores keys it does not use: %s", cls.__name__, sorted(config_dict))
        unused = {**config_dict, **kwargs}
        hidden = {k: v for k, v in original.items() if k not in init_dict}
        return init_dict, unused, hidden

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None, return_unused_kwargs: bool = False, **kwargs: Any) -> Any:
        """Build from a config mapping (a scheduler's ``config``, ours or diffusers', or a plain dict) with
        ``kwargs`` overriding its values, as diffusers' ``from_config``: keys of other schedulers are kept
        in the new config but not used, and keys the source took as defaults (``_use_default_values``) take
        this class's defaults. ``return_unused_kwargs=True`` returns ``(scheduler, unused)``."""
        if config is None:
            config = kwargs.pop("pretrained_model_name_or_path", None)
            if config is None:
                raise ValueError("Please make sure to provide a config as the first positional argument.")
        if not isinstance(config, Mapping):
            raise TypeError(
                f"from_config expects a config mapping, got {type(config).__name__}; "
                "use from_pretrained(path) for a folder or file"
            )
        init_dict, unused, hidden = cls.extract_init_dict(dict(config), **kwargs)
        scheduler = cls.__new__(cls)
        scheduler._init_config(init_dict, "config")
        scheduler._after_init()
        if "_class_name" in hidden:
            hidden["_class_name"] = cls.__name__
        scheduler._internal_dict = FrozenConfig({**scheduler._internal_dict, **hidden})
        unused = {**unused, **hidden}
        return (scheduler, unused) if return_unused_kwargs else scheduler

    def _after_init(self) -> None:
        """Per-class state after the native scheduler exists (subclasses override)."""

    @classmethod
    def load_config(
        cls, pretrained_model_name_or_path: str | os.PathLike, subfolder: str | None = None,
        return_unused_kwargs: bool = False, **kwargs: Any,
    ) -> Any:
        """The config dict of a local ``scheduler_config.json`` (a file, a folder holding it, or a pipeline
        folder with ``subfolder="scheduler"``). Model-hub names are not fetched: ortdiffusion reads local
        files only."""
        path = find_config_file(pretrained_model_name_or_path, subfolder)
        try:
            config = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read scheduler config file ({e})") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(config, dict):
            raise ConfigError(f"{path}: expected a JSON object, got {type(config).__name__}")
        unused = {k: v for k, v in kwargs.items() if k not in _HUB_KWARGS}
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike | None = None, subfolder: str | None = None,
        return_unused_kwargs: bool = False, **kwargs: Any,
    ) -> Any:
        """Load ``scheduler_config.json`` from a local folder (``subfolder`` inside it, e.g. ``"scheduler"``
        for a pipeline folder) or a JSON file; ``kwargs`` override its values (diffusers' hub keywords such
        as ``cache_dir`` are accepted and ignored)."""
        config, unused = cls.load_config(pretrained_model_name_or_path, subfolder, return_unused_kwargs=True, **kwargs)
        return cls.from_config(config, return_unused_kwargs=return_unused_kwargs, **unused)

    def save_config(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> Path:
        """Write ``scheduler_config.json`` into ``save_directory`` (created if missing; written atomically),
        readable by diffusers' ``from_pretrained``/``from_config`` and by ours. Returns the file's path."""
        if push_to_hub:
            raise ValueError("push_to_hub is not supported: ortdiffusion writes local files only")
        folder = Path(save_directory)
        if folder.is_file():
            raise AssertionError(f"Provided path ({folder}) should be a directory, not a file")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / self.config_name
        write_json_atomic(target, self._json_config())
        return target

    save_pretrained = save_config

    def _json_config(self) -> dict[str, Any]:
        """The config as diffusers writes it (Python's json: -Infinity stays -Infinity)."""
        config = {k: to_jsonable(v) for k, v in self._internal_dict.items() if k != "_use_default_values"}
        config["_class_name"] = type(self).__name__
        return config

    def to_json_string(self) -> str:
        """The config as diffusers writes it (sorted keys, 2-space indent, ``_class_name`` included)."""
        return json.dumps(self._json_config(), indent=2, sort_keys=True) + "\n"

    def __getattr__(self, name: str) -> Any:
        """Config entries as attributes, deprecated as in diffusers (``scheduler.num_train_timesteps``
        works with a FutureWarning; ``scheduler.config.num_train_timesteps`` is the way)."""
        internal = self.__dict__.get("_internal_dict")
        if internal is not None and name in internal and not name.startswith("__"):
            warnings.warn(
                f"Accessing config attribute `{name}` directly via '{type(self).__name__}' object attribute is "
                f"deprecated. Please access '{name}' over '{type(self).__name__}'s config object instead, e.g. "
                f"'scheduler.config.{name}'.",
                FutureWarning,
                stacklevel=2,
            )
            return internal[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # ---- state -------------------------------------------------------------------------------
    @property
    def config(self) -> FrozenConfig:
        """The full config (every key, defaults filled in, ``_class_name``), read-only."""
        return self._internal_dict

    @property
    def compatibles(self) -> list[type]:
        """The ortdiffusion scheduler classes that can be built from this one's config (diffusers'
        ``compatibles``, limited to the classes ortdiffusion implements)."""
        return self._get_compatibles()

    @classmethod
    def _get_compatibles(cls) -> list[type]:
        names = list(dict.fromkeys([cls.__name__, *cls._compatibles]))
        implemented = SchedulerConfigMixin._implemented
        return [implemented[n] for n in names if n in implemented]

    def __len__(self) -> int:
        """``num_train_timesteps``, like diffusers schedulers."""
        return int(self._internal_dict["num_train_timesteps"])

    def __repr__(self) -> str:
        return f"ortdiffusion.{type(self).__name__} {self.to_json_string()}"


# diffusers' pipelines check for their own base classes: adopt them once diffusers is loaded (never importing it)
install(SchedulerConfigMixin)
