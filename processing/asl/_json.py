"""JSON value helpers shared by the interpreter: type tests, equality, size and copies."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["is_integer", "is_number", "json_copy", "json_equal", "json_size", "to_json"]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (Python's ``bool`` is an ``int``, but not a number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a JSON number without a fractional part (``2`` and ``2.0``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values, where ``true`` is not ``1`` (unlike Python's ``True == 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def to_json(value: Any) -> str:
    """Compact JSON text, the form Step Functions uses for ``States.JsonToString`` and sizes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_size(value: Any) -> int:
    """The payload size of ``value`` in UTF-8 bytes, as counted against the 256 KiB limit."""
    return len(to_json(value).encode())


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value, much faster than :func:`copy.deepcopy` for plain data."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    return value
