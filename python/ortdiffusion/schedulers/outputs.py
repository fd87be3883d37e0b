"""Step outputs that behave like diffusers' ``BaseOutput``: attribute (``out.prev_sample``), key
(``out["prev_sample"]``, ``keys()``, ``values()``, ``items()``) and tuple (``out[0]``, ``to_tuple()``)
access. They are named tuples, so building one in the denoising loop costs no more than a tuple."""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

OutputClass = TypeVar("OutputClass", bound=type)


def _getitem(self: tuple, key: Any) -> Any:
    """Index by position or by field name, as diffusers' BaseOutput allows."""
    if isinstance(key, str):
        if key not in self._fields:
            raise KeyError(key)
        return getattr(self, key)
    return tuple.__getitem__(self, key)


def _keys(self: tuple) -> tuple:
    """The field names, like ``dict.keys()``."""
    return self._fields


def _values(self: tuple) -> tuple:
    """The field values in order, like ``dict.values()``."""
    return tuple(self)


def _items(self: tuple) -> tuple:
    """``(name, value)`` pairs, like ``dict.items()``."""
    return tuple(zip(self._fields, self))


def _to_tuple(self: tuple) -> tuple:
    """The values as a plain tuple (diffusers' ``BaseOutput.to_tuple``)."""
    return tuple(self)


def diffusers_output(cls: OutputClass) -> OutputClass:
    """Give a NamedTuple class diffusers' ``BaseOutput`` access methods."""
    cls.__getitem__ = _getitem  # type: ignore[attr-defined]
    cls.keys = _keys  # type: ignore[attr-defined]
    cls.values = _values  # type: ignore[attr-defined]
    cls.items = _items  # type: ignore[attr-defined]
    cls.to_tuple = _to_tuple  # type: ignore[attr-defined]
    return cls


@diffusers_output
class SchedulerOutput(NamedTuple):
    """Output of a scheduler's ``step`` (diffusers' ``SchedulerOutput``): ``prev_sample`` is x_{t-1}."""

    prev_sample: Any
