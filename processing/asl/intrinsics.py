"""Intrinsic functions (``States.Format(...)`` and friends): a real parser and their evaluation.

An invocation is parsed once into a small tree (nested calls, string literals with ``\\``
escapes, numbers, ``true``/``false``/``null`` and Paths) and cached, so a Map that evaluates the
same ``ItemSelector`` a thousand times parses it once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from processing.asl._json import is_integer, is_number, json_equal, to_json
from processing.asl.errors import IntrinsicFailure, ParameterPathFailure
from processing.asl.paths import JsonPath, PathNotFound, PathSyntaxError, parse_path

__all__ = [
    "FUNCTIONS",
    "IntrinsicSyntaxError",
    "evaluate_intrinsic",
    "is_intrinsic",
    "parse_intrinsic",
]

#: Step Functions' limits on the inputs of some functions.
MAX_STRING_CHARS = 10_000
MAX_RANGE_ITEMS = 1_000


class IntrinsicSyntaxError(ValueError):
    """The text is not a well-formed intrinsic function invocation."""


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class _String:
    """A quoted literal; ``template`` keeps which braces were escaped, for ``States.Format``."""

    value: str
    template: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class _PathArg:
    path: JsonPath


@dataclass(frozen=True, slots=True)
class Call:
    """A parsed invocation: the function name and its argument nodes."""

    name: str
    args: tuple[_Node, ...]


_Node = _Literal | _String | _PathArg | Call

_NAME = re.compile(r"States\.[A-Za-z0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def is_intrinsic(text: str) -> bool:
    """Whether a ``.$`` value is an intrinsic invocation rather than a Path."""
    return text.lstrip().startswith("States.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(
            f"invalid intrinsic function {self.text!r} at offset {self.pos}: {message}"
        )

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def call(self) -> Call:
        self.skip_ws()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error("expected a function name such as States.Format")
        name = match.group()
        if name not in FUNCTIONS:
            raise self.error(f"unknown intrinsic function {name}")
        self.pos = match.end()
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.error("expected '('")
        self.pos += 1
        args: list[_Node] = []
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.argument())
                self.skip_ws()
                ch = self.text[self.pos : self.pos + 1]
                self.pos += 1
                if ch == ")":
                    break
                if ch != ",":
                    self.pos -= 1
                    raise self.error("expected ',' or ')'")
        spec = FUNCTIONS[name]
        if not spec.min_args <= len(args) <= spec.max_args:
            expected = (
                str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"{spec.min_args} to {spec.max_args}"
            )
            if spec.max_args > 99:
                expected = f"at least {spec.min_args}"
            raise self.error(f"{name} takes {expected} arguments, got {len(args)}")
        return Call(name, tuple(args))

    def argument(self) -> _Node:
        self.skip_ws()
        rest = self.text[self.pos :]
        if rest.startswith("'"):
            return self.string()
        if rest.startswith("$"):
            return self.path()
        if rest.startswith("States."):
            return self.call()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if rest.startswith(word) and not rest[len(word) : len(word) + 1].isalnum():
                self.pos += len(word)
                return _Literal(value)
        match = _NUMBER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            token = match.group()
            number: int | float = float(token) if any(c in token for c in ".eE") else int(token)
            return _Literal(number)
        raise self.error("expected a string, a number, true, false, null, a path or a function")

    def string(self) -> _String:
        self.pos += 1  # opening quote
        start = self.pos
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated string literal")
            ch = self.text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if ch == "'":
                break
            self.pos += 1
        raw = self.text[start : self.pos]
        self.pos += 1
        template = _template(raw)
        value = "".join("{}" if part is None else part for part in template)
        return _String(value, template)

    def path(self) -> _PathArg:
        """A Path runs to the next ``,`` or ``)`` outside brackets, parentheses and quotes."""
        start = self.pos
        depth = 0
        quote: str | None = None
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if quote:
                if ch == "\\":
                    self.pos += 1
                elif ch == quote:
                    quote = None
            elif ch == "\\":
                self.pos += 1
            elif ch in "'\"":
                quote = ch
            elif ch in "[(":
                depth += 1
            elif ch in "])":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            self.pos += 1
        text = self.text[start : self.pos].rstrip()
        try:
            return _PathArg(parse_path(text))
        except PathSyntaxError as exc:
            raise self.error(str(exc)) from None


def _template(raw: str) -> tuple[str | None, ...]:
    """Split a literal into text and ``{}`` placeholders; ``\\x`` is always the literal ``x``."""
    parts: list[str | None] = []
    buf: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            buf.append(raw[i + 1])
            i += 2
        elif raw.startswith("{}", i):
            parts.append("".join(buf))
            buf = []
            parts.append(None)
            i += 2
        else:
            buf.append(ch)
            i += 1
    parts.append("".join(buf))
    return tuple(parts)


@lru_cache(maxsize=2048)
def parse_intrinsic(text: str) -> Call:
    """Parse an intrinsic invocation such as ``States.Format('{}', $.a)``.

    Raises:
        IntrinsicSyntaxError: malformed text, an unknown function or a wrong argument count.
    """
    parser = _Parser(text)
    call = parser.call()
    parser.skip_ws()
    if parser.pos != len(text):
        raise parser.error("unexpected text after the invocation")
    return call


def evaluate_intrinsic(text: str | Call, data: Any, context: Any = None) -> Any:
    """Evaluate an invocation against the state's data and the context object.

    Raises:
        IntrinsicFailure: a wrong argument type or value, or a malformed invocation.
        ParameterPathFailure: a Path argument names a node that is not there.
    """
    try:
        call = parse_intrinsic(text) if isinstance(text, str) else text
    except IntrinsicSyntaxError as exc:
        raise IntrinsicFailure(str(exc)) from None
    return _evaluate(call, data, context)


def _evaluate(node: _Node, data: Any, context: Any) -> Any:
    if type(node) is _Literal:
        return node.value
    if type(node) is _String:
        return node.value
    if type(node) is _PathArg:
        try:
            return node.path.get(data, context)
        except PathNotFound as exc:
            raise ParameterPathFailure(str(exc)) from None
    assert type(node) is Call
    spec = FUNCTIONS[node.name]
    if node.name == "States.Format":
        return _format(node, data, context)
    args = [_evaluate(arg, data, context) for arg in node.args]
    try:
        return spec.impl(args)
    except IntrinsicFailure:
        raise
    except (TypeError, ValueError, OverflowError) as exc:  # defensive: never leak a traceback
        raise IntrinsicFailure(f"{node.name}: {exc}") from None


# --------------------------------------------------------------------------------------------
# The functions


@dataclass(frozen=True, slots=True)
class _Function:
    min_args: int
    max_args: int
    impl: Callable[[list[Any]], Any]


def _fail(name: str, message: str) -> IntrinsicFailure:
    return IntrinsicFailure(f"{name}: {message}")


def _string(name: str, value: Any, what: str = "argument", limit: int | None = None) -> str:
    if type(value) is not str:
        raise _fail(name, f"the {what} must be a string, got {_kind(value)}")
    if limit is not None and len(value) > limit:
        raise _fail(name, f"the {what} is longer than {limit} characters")
    return value


def _integer(name: str, value: Any, what: str) -> int:
    if not is_integer(value):
        raise _fail(name, f"the {what} must be an integer, got {_kind(value)}")
    return int(value)


def _array(name: str, value: Any) -> list[Any]:
    if type(value) is not list:
        raise _fail(name, f"the first argument must be an array, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _format_value(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None or isinstance(value, bool) or is_number(value):
        return to_json(value)
    raise _fail(
        "States.Format", f"arguments must be strings, numbers, booleans or null, got {_kind(value)}"
    )


def _format(call: Call, data: Any, context: Any) -> str:
    first = call.args[0]
    if type(first) is _String:
        template = first.template
    else:
        value = _evaluate(first, data, context)
        template = _template(_string("States.Format", value, "template"))
    values = [_evaluate(arg, data, context) for arg in call.args[1:]]
    placeholders = sum(1 for part in template if part is None)
    if placeholders != len(values):
        raise _fail(
            "States.Format",
            f"the template has {placeholders} placeholders but {len(values)} arguments were given",
        )
    out: list[str] = []
    it = iter(values)
    for part in template:
        out.append(_format_value(next(it)) if part is None else part)
    return "".join(out)


def _string_to_json(args: list[Any]) -> Any:
    text = _string("States.StringToJson", args[0])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail("States.StringToJson", f"not a JSON text: {exc.msg}") from None


def _array_partition(args: list[Any]) -> list[list[Any]]:
    items = _array("States.ArrayPartition", args[0])
    size = _integer("States.ArrayPartition", args[1], "chunk size")
    if size <= 0:
        raise _fail("States.ArrayPartition", "the chunk size must be positive")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(args: list[Any]) -> bool:
    items = _array("States.ArrayContains", args[0])
    return any(json_equal(item, args[1]) for item in items)


def _array_range(args: list[Any]) -> list[int]:
    name = "States.ArrayRange"
    start = _integer(name, args[0], "start")
    end = _integer(name, args[1], "end")
    step = _integer(name, args[2], "step")
    if step == 0:
        raise _fail(name, "the step cannot be zero")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE_ITEMS:
        raise _fail(name, f"the range would have {count} items, more than {MAX_RANGE_ITEMS}")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(args: list[Any]) -> Any:
    items = _array("States.ArrayGetItem", args[0])
    index = _integer("States.ArrayGetItem", args[1], "index")
    if not 0 <= index < len(items):
        raise _fail("States.ArrayGetItem", f"index {index} is out of bounds")
    return items[index]


def _unique_key(value: Any) -> str:
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"))


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


def _array_unique(args: list[Any]) -> list[Any]:
    items = _array("States.ArrayUnique", args[0])
    seen: set[str] = set()
    out: list[Any] = []
    for item in items:
        key = _unique_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_encode(args: list[Any]) -> str:
    text = _string("States.Base64Encode", args[0], limit=MAX_STRING_CHARS)
    return base64.b64encode(text.encode()).decode("ascii")


def _base64_decode(args: list[Any]) -> str:
    text = _string("States.Base64Decode", args[0], limit=MAX_STRING_CHARS)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode()
    except (binascii.Error, UnicodeError) as exc:
        raise _fail("States.Base64Decode", f"not valid Base64 of UTF-8 text: {exc}") from None


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(args: list[Any]) -> str:
    data = _string("States.Hash", args[0], "data", limit=MAX_STRING_CHARS)
    algorithm = _string("States.Hash", args[1], "algorithm")
    if algorithm not in _HASHES:
        raise _fail("States.Hash", f"unknown algorithm {algorithm!r}; use one of {sorted(_HASHES)}")
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _deep_merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    merged = dict(left)
    for key, value in right.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _json_merge(args: list[Any]) -> dict[str, Any]:
    name = "States.JsonMerge"
    left, right, deep = args
    if type(left) is not dict or type(right) is not dict:
        raise _fail(name, "the first two arguments must be objects")
    if not isinstance(deep, bool):
        raise _fail(name, "the third argument must be a boolean")
    # AWS only implements the shallow mode; the deep one is the spec's natural reading.
    return _deep_merge(left, right) if deep else {**left, **right}


def _math_random(args: list[Any]) -> int:
    name = "States.MathRandom"
    start = _integer(name, args[0], "start")
    end = _integer(name, args[1], "end")
    if end <= start:
        raise _fail(name, "the end must be greater than the start")
    rng: random.Random | Any = random
    if len(args) == 3:
        rng = random.Random(_integer(name, args[2], "seed"))
    return int(rng.randrange(start, end))


def _math_add(args: list[Any]) -> int | float:
    for value in args:
        if not is_number(value):
            raise _fail("States.MathAdd", f"arguments must be numbers, got {_kind(value)}")
    total = args[0] + args[1]
    return int(total) if is_integer(total) and not isinstance(total, int) else total


def _string_split(args: list[Any]) -> list[str]:
    text = _string("States.StringSplit", args[0])
    delimiters = _string("States.StringSplit", args[1], "delimiter")
    if not delimiters:
        return [text] if text else []
    # Like Java's StringTokenizer: each delimiter character splits, and empty tokens vanish.
    pattern = "[" + re.escape(delimiters) + "]"
    return [token for token in re.split(pattern, text) if token]


def _uuid(args: list[Any]) -> str:
    return str(uuid.uuid4())


_MANY = 1_000_000

FUNCTIONS: dict[str, _Function] = {
    "States.Format": _Function(1, _MANY, lambda a: None),  # evaluated specially: see _format
    "States.StringToJson": _Function(1, 1, _string_to_json),
    "States.JsonToString": _Function(1, 1, lambda a: to_json(a[0])),
    "States.Array": _Function(0, _MANY, list),
    "States.ArrayPartition": _Function(2, 2, _array_partition),
    "States.ArrayContains": _Function(2, 2, _array_contains),
    "States.ArrayRange": _Function(3, 3, _array_range),
    "States.ArrayGetItem": _Function(2, 2, _array_get_item),
    "States.ArrayLength": _Function(1, 1, lambda a: len(_array("States.ArrayLength", a[0]))),
    "States.ArrayUnique": _Function(1, 1, _array_unique),
    "States.Base64Encode": _Function(1, 1, _base64_encode),
    "States.Base64Decode": _Function(1, 1, _base64_decode),
    "States.Hash": _Function(2, 2, _hash),
    "States.JsonMerge": _Function(3, 3, _json_merge),
    "States.MathRandom": _Function(2, 3, _math_random),
    "States.MathAdd": _Function(2, 2, _math_add),
    "States.StringSplit": _Function(2, 2, _string_split),
    "States.UUID": _Function(0, 0, _uuid),
}
