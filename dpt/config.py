"""Typed configs from dicts: unknown keys and values of the wrong type are refused with one line."""
from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from typing import Any

from .errors import BadInput


def _accepts(hint, value) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, hint)


def from_dict(cls, d: dict, what: str):
    """Build dataclass `cls` from `d`, refusing unknown keys and values of the wrong type."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise BadInput(f"unknown {what} option(s) {unknown}; valid: {', '.join(known)}")
    for k, v in d.items():
        if not _accepts(hints[k], v):
            raise BadInput(f"{what} option {k}={v!r} must be of type {getattr(hints[k], '__name__', hints[k])}, "
                           f"not {type(v).__name__}")
    return cls(**{k: float(v) if hints[k] is float else v for k, v in d.items()})


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BadInput(message)


INT_LIMIT = 2 ** 31  # whole-number options (seeds, epochs, sizes) stay below this: anything larger is a typo


def check_numbers(obj, what: str) -> None:
    """Every number finite and every whole number below INT_LIMIT (NaN would pass every `>=` check)."""
    kinds = {"int": ((int,), "a whole number"), "float": ((int, float), "a number"), "bool": ((bool,), "true or false"),
             "str": ((str,), "a string")}
    for f in fields(obj):
        v = getattr(obj, f.name)
        declared = kinds.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
        if declared is not None:  # the type the field declares: "3" is not 3 epochs, nor True a number
            types, words = declared
            check(isinstance(v, types) and (bool in types or not isinstance(v, bool)),
                  f"{what} option {f.name}={v!r} must be {words}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        check(math.isfinite(v), f"{what} option {f.name}={v} must be a finite number")
        check(abs(v) < INT_LIMIT if isinstance(v, int) else abs(v) < 1e12,
              f"{what} option {f.name}={v} is out of range")


def flatten(d: dict, prefix: str = "") -> dict:
    """A nested dict with dotted keys, for diffs of configs and identities."""
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out
