"""Validation helpers for the typed configs: one wording for every error, naming the key, the bad value
and what is valid; and one rule for building nested dataclasses from plain dicts (JSON, YAML)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any


def check_choice(owner: str, name: str, value: Any, valid: tuple | list) -> None:
    """``value`` must be one of ``valid``."""
    if value not in valid:
        raise ValueError(f"{owner}.{name}={value!r} is not valid; choose one of: {', '.join(map(str, valid))}")


def check_positive_int(owner: str, name: str, value: Any) -> None:
    """``value`` must be an integer >= 1 (``bool`` is not an integer here)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}.{name}={value!r} must be a positive integer")


def check_number(owner: str, name: str, value: Any, minimum: float = 0.0, maximum: float | None = None) -> float:
    """``value`` must be a number in ``[minimum, maximum]``; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum or (
            maximum is not None and value > maximum):
        bound = f">= {minimum:g}" if maximum is None else f"in [{minimum:g}, {maximum:g}]"
        raise ValueError(f"{owner}.{name}={value!r} must be a number {bound}")
    return float(value)


def _dataclass_type(annotation: Any) -> type | None:
    """The dataclass named by a field's annotation (``X`` or ``X | None``), else None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def from_dict(cls: type, data: Any, owner: str):
    """Build dataclass ``cls`` from a plain dict; the one rule used by every config.

    ``None`` means all defaults. Unknown keys are an error that lists the valid ones. A field whose
    type is itself a dataclass is built from a nested dict the same way (its keys named
    ``owner.field``); any other value is passed as it is and validated by ``cls.__post_init__``.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{owner} must be a mapping of keys to values, got {type(data).__name__}: {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {owner} keys: {', '.join(map(str, unknown))}; valid keys: "
                         f"{', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        nested = _dataclass_type(hints.get(key))
        kwargs[key] = from_dict(nested, value, f"{owner}.{key}") if nested and isinstance(value, dict) else value
    return cls(**kwargs)
