"""Typed dataclasses filled from parsed TOML or JSON, every value checked against its field's type.

The config loader and the model manifest both use it, so a key spelled wrong or a value of the
wrong type is an error naming its dotted path (`smoothing.majorty: unknown key`), never a
silent fall back to a default. Numbers must be finite.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

T = TypeVar("T")


class FieldError(ValueError):
    """A value that does not fit its field; the message starts with the field's dotted path."""


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp` (lists become tuples where the field is a tuple), or FieldError."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise FieldError(f"{where}: expected an object, got {value!r:.80}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return coerce(value, args[0], where)
    if origin in (list, tuple):
        item = typing.get_args(tp)[0]
        if not isinstance(value, (list, tuple)):
            raise FieldError(f"{where}: expected a list, got {value!r}")
        items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise FieldError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if tp is float and not math.isfinite(value):
        raise FieldError(f"{where}: expected a finite number, got {value!r}")
    return value


def update_dataclass(obj: T, data: dict[str, Any], prefix: str = "") -> T:
    """A copy of dataclass `obj` with `data` applied, nested tables included; FieldError for an
    unknown key or a value of the wrong type."""
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            raise FieldError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise FieldError(f"{where}: expected a table [{where}], got {value!r}")
            changes[key] = update_dataclass(current, value, f"{where}.")
        else:
            changes[key] = coerce(value, hints[key], where)
    return replace(obj, **changes)  # type: ignore[type-var]
